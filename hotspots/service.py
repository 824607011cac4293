"""The operations both front doors (API and CLI) offer, over the store and the domain code.

Holds the boundary sets and an in-memory cache of analysis results keyed by
(dataset version, parameters), safe to use from several threads.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any, TypeVar, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspots.boundaries import BoundarySet, read_boundary_file, shipped_boundary_sets
from hotspots.errors import InvalidInput, NotFound
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.assessment import compare, emerging_layer, evaluate_hotspots, k_distance_inputs
from hotspots.geo.dbscan import DEFAULT_EPS_M, default_min_samples
from hotspots.geo.disclosure import (
    EXACT,
    RECORD_KEY,
    Disclosure,
    protect,
    protect_cells,
    protect_compare,
    protect_counts,
    protect_description,
    protect_evaluation,
    protect_k_distance,
    record_keys,
)
from hotspots.geo.harm import DEFAULT_HARM, default_min_harm, parse_harm_weights
from hotspots.geo.ingest import ColumnMapping, Format, IngestReport, OutsidePolicy, Source, read_incidents
from hotspots.geo.parameters import k_distance_json, k_distance_png
from hotspots.settings import Settings
from hotspots.store import DatasetVersion, Store
from hotspots.store.security import Security
from hotspots.store.sharing import Sharing, SharingRegister, delete_dataset, remove_orphans


@dataclass(frozen=True)
class SampleDataset:
    name: str
    filename: str
    mapping: ColumnMapping | None


SAMPLES = [
    SampleDataset(
        "tri-borough-2018-2020",
        "police_api_points_tri_borough_2018-02_to_2020-12.csv.gz",
        ColumnMapping(longitude="Longitude", latitude="Latitude", month="Month", category="Crime type"),
    ),
    SampleDataset("bd-2023-01", "2023-01-metropolitan-street_barking-and-dagenham.csv.gz", None),
]
DEFAULT_DATASET = SAMPLES[0].name
SAMPLE_SHARING = Sharing(
    owner="Metropolitan Police Service (published by data.police.uk)",
    source_type="police",
    purpose="Shipped sample: open data under the Open Government Licence v3.0",
    agreement="OGL v3.0 (open data, no data-sharing agreement needed)",
)
MAX_COMBINED = 10
SELECTION_TTL_S = 1.0
"""How long a dataset look-up (name to stored version) is reused, seconds."""
MAX_REMEMBERED_REFS = 256


@dataclass(frozen=True)
class Selection:
    """Dataset versions analysed together, with their data-sharing records."""

    versions: tuple[DatasetVersion, ...]
    sharing: tuple[Sharing, ...]

    @property
    def ref(self) -> str:
        return ",".join(v.ref for v in self.versions)

    @property
    def id(self) -> tuple[int, ...]:
        """Cache key part: the version ids."""
        return tuple(v.id for v in self.versions)

    def sources_used(self, incidents: pd.DataFrame) -> list[dict[str, Any]]:
        """Which datasets (owner, source type, agreement) an output drew on, with incident counts."""
        counts = incidents["dataset"].value_counts() if "dataset" in incidents.columns else pd.Series()
        return [
            {"dataset": v.ref, **s.as_dict(), "incidents": int(counts.get(v.ref, 0))}
            for v, s in zip(self.versions, self.sharing, strict=True)
            if int(counts.get(v.ref, 0)) > 0
        ]


T = TypeVar("T")
EXACT_ROLES = frozenset({"police", "admin"})
"""Roles that see exact counts; every other role sees protected ones (see :mod:`hotspots.geo.disclosure`)."""
SECRET_FILE = "disclosure.key"


def _evaluated(incidents: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame:
    """The incidents an evaluation draws on: its crime types and first month (as ``evaluate_hotspots``)."""
    from hotspots.geo.assessment import analyse_filter

    selected = analyse_filter(incidents, params) if params.crime_types else incidents
    if params.month_from:
        selected = selected[selected["month"] >= params.month_from]
    return selected


def sample_source(filename: str) -> Source:
    """A shipped sample file as an ingest source."""
    with resources.as_file(resources.files("hotspots") / "sample_data" / filename) as path:
        return Source.from_path(path)


class HotspotService:
    """Datasets, boundary sets and cached analyses for one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir, settings.sqlalchemy_url)
        self.security = Security(self.store.engine)
        self.sharing = SharingRegister(self.store)
        remove_orphans(self.store)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._pending: dict[tuple[object, ...], threading.Lock] = {}
        self._boundaries: dict[str, BoundarySet] | None = None
        self._selections: dict[str | None, tuple[float, Selection]] = {}
        self.harm = (
            parse_harm_weights(settings.harm_weights_file.read_bytes())
            if settings.harm_weights_file is not None
            else DEFAULT_HARM
        )
        self._secret: bytes | None = None

    # ---- disclosure -------------------------------------------------------------
    def disclosure_for(self, role: str) -> Disclosure:
        """What a caller with ``role`` may see: the one place where disclosure is decided.

        Police and admins see exact counts; viewers, councils (and any other role) see counts
        protected by the cell key method with small-cell suppression (``settings.disclosure_k``).
        """
        if role in EXACT_ROLES:
            return EXACT
        return Disclosure(exact=False, k=self.settings.disclosure_k, secret=self.disclosure_secret)

    @property
    def disclosure_secret(self) -> bytes:
        """The secret behind the records' keys: the setting, or one kept in the data directory."""
        if self._secret is None:
            configured = self.settings.disclosure_secret
            if configured is not None:
                self._secret = hashlib.blake2b(
                    configured.get_secret_value().encode(), digest_size=32
                ).digest()
            else:
                self._secret = self._stored_secret()
        return self._secret

    def _stored_secret(self) -> bytes:
        path = self.settings.data_dir / SECRET_FILE
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return bytes.fromhex(path.read_text().strip())
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())

    def with_harm(self, params: AnalysisParams) -> AnalysisParams:
        """``params`` with the service's harm table (the setting) unless one is given."""
        if params.harm_table is not None or self.harm is DEFAULT_HARM:
            return params
        return replace(params, harm_table=self.harm.to_items())

    # ---- boundary sets ----------------------------------------------------------
    @property
    def boundary_sets(self) -> dict[str, BoundarySet]:
        if self._boundaries is None:
            sets = dict(shipped_boundary_sets())
            sets.update({b.name: b for b in self.store.boundary_sets()})
            self._boundaries = sets
        return self._boundaries

    def study_area(self) -> shapely.Geometry:
        """Union of the shipped boundary sets (EPSG:27700), used for the out-of-area check."""
        return shapely.union_all([s.outline for s in self.boundary_sets.values() if s.shipped])

    def add_boundary_file(
        self,
        data: bytes,
        filename: str,
        name: str,
        title: str | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
    ) -> BoundarySet:
        bset = read_boundary_file(data, filename, name, title=title, valid_from=valid_from, valid_to=valid_to)
        self.store.add_boundary_set(bset, reserved=set(shipped_boundary_sets()))
        self._boundaries = None
        return bset

    # ---- datasets ---------------------------------------------------------------
    def ingest(
        self,
        name: str,
        sources: Sequence[Source],
        *,
        fmt: Format = "auto",
        mapping: ColumnMapping | None = None,
        outside: OutsidePolicy = "reject",
        size_limited: bool = True,
        sharing: Sharing | None = None,
    ) -> tuple[DatasetVersion, IngestReport]:
        """Validate files and store them as a new version of dataset ``name``.

        ``size_limited`` applies the upload size limit (off for the shipped samples).
        """
        from hotspots.store.store import check_name

        check_name(name)
        result = read_incidents(
            sources,
            fmt=fmt,
            mapping=mapping,
            area=self.study_area(),
            max_outside_m=self.settings.max_outside_km * 1000,
            outside=outside,
            max_bytes=self.settings.max_upload_bytes if size_limited else None,
            max_errors=self.settings.max_reported_errors,
        )
        version = self.store.add_dataset(name, result.incidents, result.report)
        if sharing is not None:
            self.sharing.set(name, sharing)
        self._forget_selections()
        return version, result.report

    def seed_samples(self) -> list[DatasetVersion]:
        """Load the shipped sample datasets if the store has none of them."""
        existing = {d.name for d in self.store.list_datasets()}
        added = []
        for sample in SAMPLES:
            if sample.name not in existing:
                version, _ = self.ingest(
                    sample.name,
                    [sample_source(sample.filename)],
                    mapping=sample.mapping,
                    size_limited=False,
                    sharing=SAMPLE_SHARING,
                )
                added.append(version)
        return added

    def dataset(self, ref: str | None) -> Selection:
        """The dataset version(s) named by ``ref``: ``name``, ``name@3``, or several joined by commas.

        ``None`` means the shipped sample (or the newest dataset if it was deleted). The answer
        is remembered for :data:`SELECTION_TTL_S` seconds (a look-up costs more than serving a
        cached result); uploads and deletions through this service forget it at once, and a
        version added by another process (the CLI) is seen within that time.
        """
        now = time.monotonic()
        with self._lock:
            hit = self._selections.get(ref)
        if hit is not None and now - hit[0] < SELECTION_TTL_S:
            return hit[1]
        selection = self._look_up(ref)
        with self._lock:
            if len(self._selections) >= MAX_REMEMBERED_REFS:
                self._selections.clear()
            self._selections[ref] = (now, selection)
        return selection

    def _forget_selections(self) -> None:
        with self._lock:
            self._selections.clear()

    def _look_up(self, ref: str | None) -> Selection:
        if ref is None:
            datasets = self.store.list_datasets()
            if not datasets:
                raise NotFound("no datasets stored yet: upload one with POST /datasets or 'hotspots ingest'")
            names = {d.name for d in datasets}
            ref = DEFAULT_DATASET if DEFAULT_DATASET in names else datasets[-1].name
        parts = [p.strip() for p in ref.split(",") if p.strip()]
        if not parts or len(parts) > MAX_COMBINED:
            raise InvalidInput(f"name between 1 and {MAX_COMBINED} datasets, separated by commas")
        found = [self.store.get_dataset(p) for p in parts]
        versions = tuple({v.id: v for v in found}.values())
        return Selection(versions, tuple(self.sharing.get(v.name) for v in versions))

    def load(self, selection: Selection) -> pd.DataFrame:
        """Incidents of the selected versions, with ``dataset``, ``source_type``, ``owner`` and
        ``record_key`` (each stored row's fixed disclosure key, see :func:`record_keys`) columns."""
        frames = []
        for version, sharing in zip(selection.versions, selection.sharing, strict=True):
            frame = self.store.load_incidents(version)
            frames.append(
                frame.assign(
                    dataset=version.ref,
                    source_type=sharing.source_type,
                    owner=sharing.owner,
                    **{RECORD_KEY: record_keys(self.disclosure_secret, version.ref, len(frame))},
                )
            )
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def delete_dataset(self, ref: str) -> list[DatasetVersion]:
        """Delete a version or all versions of a dataset (and forget cached results)."""
        gone = delete_dataset(self.store, ref)
        with self._lock:
            self._cache.clear()
            self._selections.clear()
        return gone

    def purge_expired(self, today: date | None = None) -> list[DatasetVersion]:
        """Delete every dataset past its retention date; each deletion is audited."""
        today = today or datetime.now(UTC).date()
        gone: list[DatasetVersion] = []
        for name in self.sharing.expired(today):
            sharing = self.sharing.get(name)
            removed = self.delete_dataset(name)
            for v in removed:
                self.security.audit(
                    "retention-purge",
                    "admin",
                    "dataset deleted",
                    v.ref,
                    {
                        "reason": "retention period ended",
                        "retention_until": sharing.as_dict()["retention_until"],
                    },
                )
            gone += removed
        return gone

    # ---- analysis ---------------------------------------------------------------
    def analyse(
        self, ref: str | None, params: AnalysisParams, *, view: Disclosure = EXACT
    ) -> tuple[Selection, AnalysisResult]:
        """Analysis of a dataset version, computed once per (version, parameters), as ``view`` may see it.

        A protected ``view`` gets the disclosure-controlled copy (see
        :mod:`hotspots.geo.disclosure`), also cached; where ``min_samples`` (or HDBSCAN's
        ``min_cluster_size``) is left to the data, it is chosen from the protected incident
        count, so the default does not move with the exact count.
        """
        version = self.dataset(ref)
        params = self.with_harm(params)
        params.validate()

        def compute(run: AnalysisParams) -> Callable[[], AnalysisResult]:
            def go() -> AnalysisResult:
                result = analyse(self.load(version), self.boundary_sets, run)
                result.meta["dataset"] = version.ref
                result.meta["sources"] = version.sources_used(result.incidents)
                return result

            return go

        key = ("analysis", version.id, *params.cache_key())
        result = self._cached(key, compute(params))
        if not view.protected:
            return version, result

        def protected() -> AnalysisResult:
            run = self._protected_defaults(result, params, view)
            base = (
                result
                if run is None
                else self._cached(("analysis", version.id, *run.cache_key()), compute(run))
            )
            shown = protect(base, view)
            rule = result.meta.get("min_samples_rule")
            if rule:
                shown.meta["min_samples_rule"] = f"{rule}; from the disclosure-protected incident count"
            return shown

        return version, self._cached(("protected", view.identity, *key), protected)

    def _protected_defaults(
        self, result: AnalysisResult, params: AnalysisParams, view: Disclosure
    ) -> AnalysisParams | None:
        """Parameters whose data-driven defaults come from protected totals (``None``: as ``result``)."""
        if params.min_samples is not None and (params.method != "hdbscan" or params.min_cluster_size):
            return None
        inc = result.incidents
        inside = inc["has_location"].to_numpy(dtype=bool) & ~inc["outside_area"].to_numpy(dtype=bool)
        keys = inc[RECORD_KEY].to_numpy(dtype=np.uint64)[inside] if RECORD_KEY in inc.columns else None
        ckey = int(keys.sum(dtype=np.uint64) % np.uint64(2**32)) if keys is not None else 0
        shown = float(protect_counts([int(inside.sum())], [ckey], view.k)[0])
        n = int(shown) if np.isfinite(shown) else 0
        area = float(result.study_area.area) if result.study_area is not None else 0.0
        eps = result.params.eps_m or DEFAULT_EPS_M
        if area <= 0:
            return None
        if params.method == "hdbscan":
            if params.min_cluster_size:
                return None
            mcs = default_min_samples(n, area, eps)
            return None if mcs == result.params.min_cluster_size else replace(params, min_cluster_size=mcs)
        if params.weight == "harm":
            harm = inc["harm"].to_numpy(dtype=float)[inside]
            mean = float(harm.mean()) if len(harm) else 1.0
            ms = default_min_harm(mean * n, area, eps, n_incidents=n)
        else:
            ms = default_min_samples(n, area, eps)
        return None if ms == result.params.min_samples else replace(params, min_samples=ms)

    def emerging(
        self, ref: str | None, params: AnalysisParams, *, view: Disclosure = EXACT
    ) -> tuple[Selection, AnalysisResult, gpd.GeoDataFrame]:
        """Emerging hot spot cells for the analysis's months and study area, as ``view`` may see them."""
        version, result = self.analyse(ref, params)
        key = ("emerging", version.id, *params.cache_key())
        cells = self._cached(key, lambda: emerging_layer(result, params.cell_size_m))
        if not view.protected:
            return version, result, cells
        _, shown = self.analyse(ref, params, view=view)
        return (
            version,
            shown,
            self._cached(("protected", view.identity, *key), lambda: protect_cells(cells, result, view)),
        )

    def evaluate(
        self,
        ref: str | None,
        params: AnalysisParams,
        test_month: str | None,
        n_tests: int,
        *,
        view: Disclosure = EXACT,
    ) -> tuple[Selection, dict[str, Any]]:
        """Fit-then-test evaluation (PAI, PEI, RRI, baselines); see ``evaluate_hotspots``.

        A protected ``view`` gets the incident counts (fit, test, excluded, per hotspot) as
        cells of their records' keys and hit rates from them (see :func:`protect_evaluation`).
        """
        version = self.dataset(ref)
        params = self.with_harm(params)
        params.validate()
        key = ("evaluate", version.id, *params.cache_key(), test_month, n_tests)
        report = self._cached(
            key,
            lambda: evaluate_hotspots(
                self.load(version),
                self.boundary_sets,
                params,
                test_month=test_month,
                n_tests=n_tests,
            ),
        )
        if not view.protected:
            return version, report
        return version, self._cached(
            ("protected", view.identity, *key),
            lambda: protect_evaluation(
                report, _evaluated(self.load(version), params), view, weighted=params.weight == "harm"
            ),
        )

    def compare(
        self,
        ref: str | None,
        params_a: AnalysisParams,
        params_b: AnalysisParams,
        *,
        view: Disclosure = EXACT,
    ) -> tuple[Selection, dict[str, Any]]:
        """Two periods compared: hotspots new/persistent/vanished and change per ward.

        A protected ``view`` gets both periods' results protected, the period totals as
        cells, and the ward change recomputed from the protected ward counts.
        """
        version = self.dataset(ref)
        params_a, params_b = self.with_harm(params_a), self.with_harm(params_b)
        params_a.validate()
        params_b.validate()

        def run() -> dict[str, Any]:
            incidents = self.load(version)
            report = compare(incidents, self.boundary_sets, params_a, params_b)
            for result in report["results"]:
                result.meta["dataset"] = version.ref
                result.meta["sources"] = version.sources_used(result.incidents)
            return report

        key = ("compare", version.id, *params_a.cache_key(), *params_b.cache_key())
        report = self._cached(key, run)
        if not view.protected:
            return version, report
        return version, self._cached(
            ("protected", view.identity, *key), lambda: protect_compare(report, view)
        )

    def k_distance(
        self,
        ref: str | None,
        params: AnalysisParams,
        k: float | None,
        fmt: str = "json",
        *,
        view: Disclosure = EXACT,
    ) -> dict[str, Any] | bytes:
        """k-distance curve (JSON) or its PNG plot, for choosing eps; see :mod:`hotspots.geo.parameters`.

        ``k`` defaults to the ``min_samples`` in use (the protected default for a protected
        ``view``). A protected view gets the incident count as a cell and the curve's ranks
        rescaled to it.
        """
        _, result = self.analyse(ref, params)
        _, shown = self.analyse(ref, params, view=view)
        x, y, weights, k_used = k_distance_inputs(result, k if k is not None else shown.params.min_samples)
        if fmt == "png":
            return k_distance_png(
                x, y, k_used, weights, current_eps_m=result.params.eps_m, relative=view.protected
            )
        body = k_distance_json(x, y, k_used, weights, current_eps_m=result.params.eps_m)
        if view.protected:
            body = protect_k_distance(body, result, view)
        return body

    def describe_dataset(self, version: DatasetVersion, view: Disclosure = EXACT) -> dict[str, Any]:
        """A dataset version's description and validation report, as ``view`` may see it.

        A protected ``view`` gets the row and per-crime-type counts as cells of the stored
        records' keys (the rows left out at ingest as a cell of their own).
        """
        described = {**version.describe(), "sharing": self.sharing.get(version.name).as_dict()}
        if not view.protected:
            return described
        return self._cached(
            ("describe", version.id, view.identity),
            lambda: protect_description(described, self.store.load_incidents(version), view),
        )

    def rendered(
        self,
        kind: str,
        selection: Selection,
        params: AnalysisParams,
        variant: tuple[object, ...],
        render: Callable[[], T],
    ) -> T:
        """A response body built from an analysis (a map page, a GeoJSON document), built once.

        Keyed like the analyses, by the dataset version(s) and the parameters (with the
        service's harm table), plus ``variant``: whatever else the body depends on (exact or
        suppressed counts, layers, measure...). Concurrent first requests build it once.
        """
        key = ("rendered", kind, selection.id, *self.with_harm(params).cache_key(), *variant)
        return self._cached(key, render)

    def _cached(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """One computation per key; concurrent callers of the same key wait for the first."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return cast(T, self._cache[key])
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._cache:
                    return cast(T, self._cache[key])
            value = compute()
            with self._lock:
                self._cache[key] = value
                self._pending.pop(key, None)
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
            return value
