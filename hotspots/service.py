"""The operations both front doors (API and CLI) offer, over the store and the domain code.

Holds the boundary sets and an in-memory cache of analysis results keyed by
(dataset version, parameters), safe to use from several threads. A version is keyed by
:attr:`DatasetVersion.key`, an identity never reused (not the database id, which SQLite
reuses after a delete), and every deletion bumps a generation number: a computation that
started before a deletion does not store its result.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspots.boundaries import BoundarySet, read_boundary_file, shipped_boundary_sets
from hotspots.boundaries.area import Area, catalogue_set, district_names_at, pick_from_catalogue
from hotspots.boundaries.model import StoredBoundarySet
from hotspots.demo import DEFAULT_DATASET, DEMO_AREA, SAMPLE_SHARING, SAMPLES, demo_area, sample_source
from hotspots.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.cancel import Cancelled, caller_gone, cancellable
from hotspots.geo.clusters.dbscan import DEFAULT_EPS_M, default_min_samples
from hotspots.geo.disclosure import (
    EXACT,
    RECORD_KEY,
    Disclosure,
    coarse_area_km2,
    protect,
    protect_cells,
    protect_compare,
    protect_counts,
    protect_description,
    protect_evaluation,
    protect_k_distance,
    record_keys,
)
from hotspots.geo.inputs.ingest import (
    ColumnMapping,
    Format,
    IngestReport,
    IngestResult,
    OutsidePolicy,
    Source,
    read_incidents,
)
from hotspots.geo.params import MAX_PATROL_UNITS, check_patrol
from hotspots.geo.plans.patrol import PatrolPlan, Shift, plan_patrol, sites_from_hotspots
from hotspots.geo.stats.assessment import compare, emerging_layer, evaluate_hotspots, k_distance_inputs
from hotspots.geo.stats.harm import DEFAULT_HARM, default_min_harm, parse_harm_weights
from hotspots.geo.stats.parameters import k_distance_json, k_distance_png
from hotspots.geo.stats.stability import hotspot_stability, with_stability
from hotspots.settings import Settings
from hotspots.store import DatasetVersion, Store
from hotspots.store.areas import AreaRecord, AreaRegister
from hotspots.store.security import Security
from hotspots.store.sharing import Sharing, SharingRegister, delete_dataset, remove_orphans

MAX_COMBINED = 10
SELECTION_TTL_S = 1.0
"""How long a dataset look-up (name to stored version) is reused, seconds."""
MAX_REMEMBERED_REFS = 256
SLOT_POLL_S = 0.2
"""How often a computation waiting for a slot checks whether its callers left, seconds."""


@dataclass(frozen=True)
class Selection:
    """Dataset versions analysed together, with their data-sharing records."""

    versions: tuple[DatasetVersion, ...]
    sharing: tuple[Sharing, ...]

    @property
    def ref(self) -> str:
        return ",".join(v.ref for v in self.versions)

    @property
    def id(self) -> tuple[str, ...]:
        """Cache key part: the versions' never-reused identities (:attr:`DatasetVersion.key`)."""
        return tuple(v.key for v in self.versions)

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
    from hotspots.geo.stats.assessment import analyse_filter

    selected = analyse_filter(incidents, params) if params.crime_types else incidents
    if params.month_from:
        selected = selected[selected["month"] >= params.month_from]
    return selected


class HotspotService:
    """Datasets, boundary sets and cached analyses for one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir, settings.sqlalchemy_url)
        self.security = Security(self.store.engine)
        self.sharing = SharingRegister(self.store)
        self.area_register = AreaRegister(self.store)
        from hotspots.service_interventions import InterventionOps

        self.interventions = InterventionOps(self)
        """Interventions: record, list, evaluate (see :mod:`hotspots.service_interventions`)."""
        remove_orphans(self.store)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._generation = 0
        """Bumped by every deletion; results computed across one are not cached."""
        self._pending: dict[tuple[object, ...], _Work] = {}
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_analyses)
        self._held = threading.local()
        self._boundaries: dict[str, BoundarySet] | None = None
        self._areas: dict[str, Area] = {}
        self._boundaries_lock = threading.Lock()
        self._known_uploaded: dict[str, StoredBoundarySet] = {}
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
        """Shipped and uploaded sets by name. Uploaded sets come from their metadata rows; each
        reads its wards on first use, once (a set already known keeps its loaded wards)."""
        with self._boundaries_lock:
            if self._boundaries is None:
                known = self._known_uploaded
                sets: dict[str, BoundarySet] = dict(shipped_boundary_sets())
                uploaded: dict[str, StoredBoundarySet] = {}
                for b in self.store.boundary_sets():
                    assert isinstance(b, StoredBoundarySet)
                    old = known.get(b.name)
                    uploaded[b.name] = old if old is not None and old.stamp == b.stamp else b
                self._known_uploaded = uploaded
                sets.update(uploaded)
                self._boundaries = sets
            return self._boundaries

    # ---- areas ------------------------------------------------------------------
    def area(self, name: str | None) -> Area:
        """The area called ``name`` (``None``: the shipped demo), built once and reused."""
        name = name or DEMO_AREA
        if name == DEMO_AREA:
            return self._remember_area(DEMO_AREA, "shipped", demo_area)
        record = self.area_register.get(name)
        return self._remember_area(name, record.token, lambda: self._build_area(record))

    def areas(self) -> list[Area]:
        """Every area: the shipped demo first, then the stored ones by name."""
        return [self.area(None), *(self.area(r.name) for r in self.area_register.all())]

    def _remember_area(self, name: str, token: str, build: Callable[[], Area]) -> Area:
        with self._lock:
            hit = self._areas.get(name)
        if hit is not None and hit.token == token:
            return hit
        built = build()
        with self._lock:
            self._areas[name] = built
        return built

    def _build_area(self, record: AreaRecord) -> Area:
        spec = record.spec
        if record.kind == "catalogue":
            bset = catalogue_set(spec["districts"], record.name, record.title)
            sets: tuple[BoundarySet, ...] = (bset,)
        else:
            names = spec.get("boundary_sets", [])
            known = self.boundary_sets
            missing = [n for n in names if n not in known]
            if missing:
                raise NotFound(
                    f"area {record.name!r} uses boundary set(s) no longer stored: {', '.join(missing)}"
                )
            sets = tuple(known[n] for n in names)
        return Area(record.name, record.title, sets, record.kind, spec, token=record.token)  # type: ignore[arg-type]

    def add_area(
        self,
        name: str,
        *,
        title: str | None = None,
        districts: Sequence[str] = (),
        police_force: str | None = None,
        boundary_set: str | None = None,
    ) -> Area:
        """Make and store an area from catalogue districts, a police force area, or a stored boundary set.

        Exactly one of ``districts`` (names or E06/E07/E08/E09/W06 codes), ``police_force``
        (a name or E23/W15 code) and ``boundary_set`` (the name of an uploaded set) is given.
        """
        from hotspots.store.store import check_name

        check_name(name, "area")
        if name == DEMO_AREA:
            raise Conflict(f"{DEMO_AREA!r} is the shipped demo area; choose another name")
        given = [bool(districts), police_force is not None, boundary_set is not None]
        if sum(given) != 1:
            raise InvalidInput("make an area from exactly one of: districts, a police force, a boundary file")
        spec: dict[str, Any]
        if boundary_set is not None:
            bset = self.boundary_sets.get(boundary_set)
            if bset is None:
                raise NotFound(f"no boundary set named {boundary_set!r}")
            kind, spec = "file", {"boundary_sets": [boundary_set]}
            title = title or bset.title
        else:
            picked = pick_from_catalogue(districts, police_force)
            kind, spec = "catalogue", {"districts": picked.codes, "police_force": picked.force}
            title = title or picked.title
        record = self.area_register.add(name, title, kind, spec)
        try:
            return self.area(record.name)
        except Exception:
            self.area_register.delete(record.name)
            raise

    def add_area_from_file(
        self,
        data: bytes,
        filename: str,
        name: str,
        *,
        title: str | None = None,
        population_csv: bytes | None = None,
        has_other_choice: bool = False,
    ) -> Area:
        """An area from an uploaded boundary file: stored as boundary set ``name``, then as area ``name``.

        ``population_csv`` optionally gives residents per ward (columns: ward code, population).
        """
        if has_other_choice:
            raise InvalidInput("make an area from exactly one of: districts, a police force, a boundary file")
        if name == DEMO_AREA or name in self.area_register.names():
            raise Conflict(f"an area named {name!r} exists already; delete it first or choose another name")
        population = (population_csv, "population.csv") if population_csv is not None else None
        self.add_boundary_file(data, filename, name, title=title, population=population)
        try:
            return self.add_area(name, title=title, boundary_set=name)
        except Exception:
            self.delete_boundary_set(name)
            raise

    def area_name_of(self, version: DatasetVersion) -> str:
        """The area a dataset version was stored for (versions from before areas: the demo)."""
        return str(version.report.get("area") or DEMO_AREA)

    def transient_area(
        self,
        *,
        districts: Sequence[str] = (),
        police_force: str | None = None,
        boundary_file: tuple[bytes, str] | None = None,
        population: tuple[bytes, str] | None = None,
    ) -> Area:
        """An area for one run, not stored: catalogue districts, a police force area, or a boundary
        file (validated as an upload is; ``population`` an optional CSV of ward code to residents).
        The CLI's ``--districts``, ``--police-force`` and ``--boundaries FILE``."""
        given = [bool(districts), police_force is not None, boundary_file is not None]
        if sum(given) != 1:
            raise InvalidInput("make an area from exactly one of: districts, a police force, a boundary file")
        if boundary_file is not None:
            data, filename = boundary_file
            bset = read_boundary_file(
                data,
                filename,
                "boundary-file",
                population=population,
                max_features=self.settings.max_boundary_features,
                max_bytes=self.settings.max_boundary_upload_bytes,
            )
            return Area("boundary-file", bset.title, (bset,), "file", {"file": filename}, token="file")
        picked = pick_from_catalogue(districts, police_force)
        name = "catalogue"
        bset = catalogue_set(picked.codes, name, picked.title)
        spec = {"districts": picked.codes, "police_force": picked.force}
        return Area(name, picked.title, (bset,), "catalogue", spec, token=",".join(picked.codes))

    def delete_area(self, name: str) -> AreaRecord:
        """Forget a stored area (its datasets stay; analyse them with another ``area``)."""
        if name == DEMO_AREA:
            raise Conflict("the shipped demo area cannot be deleted")
        record = self.area_register.delete(name)
        with self._lock:
            self._areas.pop(name, None)
            self._cache.clear()
        return record

    def area_of(self, selection: Selection, requested: str | None = None) -> Area:
        """The area to analyse ``selection`` in: ``requested``, else the one its datasets were stored for."""
        if requested:
            return self.area(requested)
        names = {self.area_name_of(v) for v in selection.versions}
        if len(names) > 1:
            raise InvalidInput(
                f"the datasets belong to different areas ({', '.join(sorted(names))}); name one with area="
            )
        return self.area(names.pop())

    def analysis_sets(self, area: Area, params: AnalysisParams) -> dict[str, BoundarySet]:
        """The boundary sets an analysis may join to: the area's, plus a set named in ``params``."""
        sets = dict(area.boundary_sets)
        if params.boundaries != "auto" and params.boundaries not in sets:
            named = self.boundary_sets.get(params.boundaries)
            if named is None:
                raise NotFound(
                    f"no boundary set named {params.boundaries!r}; known: {', '.join(self.boundary_sets)}"
                )
            sets[named.name] = named
        return sets

    def add_boundary_file(
        self,
        data: bytes,
        filename: str,
        name: str,
        title: str | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
        population: tuple[bytes, str] | None = None,
    ) -> BoundarySet:
        """Validate a boundary file (bounded by the settings' size and feature limits) and store it.

        Slow for a large file (seconds): call it from a worker thread, not an event loop.
        """
        if len(data) > self.settings.max_boundary_upload_bytes:
            raise PayloadTooLarge(
                f"{filename}: boundary files may be at most {self.settings.max_boundary_upload_mb:g} MiB "
                "(HOTSPOTS_MAX_BOUNDARY_UPLOAD_MB)"
            )
        bset = read_boundary_file(
            data,
            filename,
            name,
            title=title,
            valid_from=valid_from,
            valid_to=valid_to,
            population=population,
            max_features=self.settings.max_boundary_features,
            max_bytes=self.settings.max_boundary_upload_bytes,
        )
        self.store.add_boundary_set(bset, reserved=set(shipped_boundary_sets()))
        self._forget_boundaries()
        return bset

    def delete_boundary_set(self, name: str) -> BoundarySet:
        """Delete an uploaded boundary set (shipped sets cannot be) and forget cached results."""
        if name in shipped_boundary_sets():
            raise Conflict(f"boundary set {name!r} is shipped with the service and cannot be deleted")
        users = [r.name for r in self.area_register.all() if name in r.spec.get("boundary_sets", [])]
        if users:
            raise Conflict(f"boundary set {name!r} is used by area(s) {', '.join(users)}: delete them first")
        bset = self.boundary_sets.get(name)
        if bset is None or not self.store.delete_boundary_set(name):
            known = sorted(b for b, s in self.boundary_sets.items() if not s.shipped)
            raise NotFound(f"no uploaded boundary set {name!r}; uploaded sets: {', '.join(known) or 'none'}")
        self._forget_boundaries()
        return bset

    def _forget_boundaries(self) -> None:
        """After an upload or deletion: list the sets again and drop results that used them."""
        with self._boundaries_lock:
            self._boundaries = None
        with self._lock:
            self._cache.clear()
            self._areas.clear()

    # ---- datasets ---------------------------------------------------------------
    def ingest(
        self,
        name: str,
        sources: Sequence[Source],
        *,
        fmt: Format = "auto",
        mapping: ColumnMapping | None = None,
        outside: OutsidePolicy = "keep",
        size_limited: bool = True,
        sharing: Sharing | None = None,
        area: str | None = None,
    ) -> tuple[DatasetVersion, IngestReport]:
        """Validate files and store them as a new version of dataset ``name``, in ``area``.

        ``area`` names a stored area (``None``: the shipped demo area). Incidents outside it
        are kept and flagged (``outside="keep"``); a file with none inside is refused.
        ``size_limited`` applies the upload size limit (off for the shipped samples).
        """
        from hotspots.store.store import check_name

        check_name(name)
        result = self.read(
            sources,
            fmt=fmt,
            mapping=mapping,
            outside=outside,
            size_limited=size_limited,
            area=self.area(area),
        )
        version = self.store.add_dataset(name, result.incidents, result.report)
        if sharing is not None:
            self.sharing.set(name, sharing)
        self._forget_selections()
        return version, result.report

    def read(
        self,
        sources: Sequence[Source],
        *,
        fmt: Format = "auto",
        mapping: ColumnMapping | None = None,
        outside: OutsidePolicy = "keep",
        size_limited: bool = True,
        area: Area | None = None,
    ) -> IngestResult:
        """Validate incident files against ``area`` (default: the demo) as an upload is validated,
        without storing them (the CLI's files). The report names the area."""
        where = area or self.area(None)
        result = read_incidents(
            sources,
            fmt=fmt,
            mapping=mapping,
            area=where.outline,
            outside_districts=district_names_at,
            max_outside_m=self.settings.max_outside_km * 1000,
            outside=outside,
            max_bytes=self.settings.max_upload_bytes if size_limited else None,
            max_errors=self.settings.max_reported_errors,
        )
        result.report.area = where.name
        return result

    def seed_samples(self, names: Sequence[str] | None = None) -> list[DatasetVersion]:
        """Load the shipped sample datasets (``names``: only those) the store has none of."""
        existing = {d.name for d in self.store.list_datasets()}
        added = []
        for sample in SAMPLES:
            if sample.name not in existing and (names is None or sample.name in names):
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
            generation = self._generation
        if hit is not None and now - hit[0] < SELECTION_TTL_S:
            return hit[1]
        selection = self._look_up(ref)
        with self._lock:
            if generation != self._generation:
                return selection  # a deletion happened meanwhile: do not remember this answer
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
        versions = tuple({v.key: v for v in found}.values())
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
        with self._lock:
            self._generation += 1  # computations under way now must not cache what they read
        try:
            gone = delete_dataset(self.store, ref)
        finally:
            with self._lock:
                self._generation += 1
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
        area = self.area_of(version, params.area)

        def compute(run: AnalysisParams) -> Callable[[], AnalysisResult]:
            def go() -> AnalysisResult:
                result = self.analyse_incidents(self.load(version), run, dataset=version.ref, area=area)
                result.meta["sources"] = version.sources_used(result.incidents)
                return result

            return go

        key = ("analysis", version.id, area.key, *params.cache_key())
        result = self._cached(key, compute(params), heavy=True)
        if not view.protected:
            return version, result

        def protected() -> AnalysisResult:
            run = self._protected_defaults(result, params, view)
            base = (
                result
                if run is None
                else self._cached(
                    ("analysis", version.id, area.key, *run.cache_key()), compute(run), heavy=True
                )
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
        study = float(result.study_area.area) if result.study_area is not None else 0.0
        occupied = result.meta.get("occupied_area_km2")
        area = min(study, coarse_area_km2(float(occupied)) * 1e6) if occupied else study
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

    def analyse_incidents(
        self,
        incidents: pd.DataFrame,
        params: AnalysisParams,
        *,
        dataset: str,
        area: Area,
        statistics: bool = True,
    ) -> AnalysisResult:
        """The analysis of incidents in hand in ``area`` (not cached): the CLI's files, or a stored
        version's."""
        params = self.with_harm(params)
        params.validate()
        result = analyse(
            incidents,
            self.analysis_sets(area, params),
            params,
            statistics=statistics,
            neighbours=district_names_at,
        )
        result.meta["dataset"] = dataset
        result.meta["area"] = {"name": area.name, "title": area.title, "kind": area.kind}
        return result

    def evaluate_incidents(
        self,
        incidents: pd.DataFrame,
        params: AnalysisParams,
        test_month: str | None,
        n_tests: int,
        *,
        area: Area,
    ) -> dict[str, Any]:
        """Fit-then-test evaluation of incidents in hand in ``area`` (not cached); see
        ``evaluate_hotspots``."""
        params = self.with_harm(params)
        params.validate()
        return evaluate_hotspots(
            incidents, self.analysis_sets(area, params), params, test_month=test_month, n_tests=n_tests
        )

    def emerging(
        self, ref: str | None, params: AnalysisParams, *, view: Disclosure = EXACT
    ) -> tuple[Selection, AnalysisResult, gpd.GeoDataFrame]:
        """Emerging hot spot cells for the analysis's months and study area, as ``view`` may see them."""
        version, result = self.analyse(ref, params)
        key = ("emerging", version.id, self.area_of(version, params.area).key, *params.cache_key())
        cells = self._cached(key, lambda: emerging_layer(result, params.cell_size_m), heavy=True)
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
        area = self.area_of(version, params.area)
        key = ("evaluate", version.id, area.key, *params.cache_key(), test_month, n_tests)
        report = self._cached(
            key,
            lambda: self.evaluate_incidents(self.load(version), params, test_month, n_tests, area=area),
            heavy=True,
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
        area = self.area_of(version, params_a.area)

        def run() -> dict[str, Any]:
            incidents = self.load(version)
            report = compare(incidents, self.analysis_sets(area, params_a), params_a, params_b)
            for result in report["results"]:
                result.meta["dataset"] = version.ref
                result.meta["sources"] = version.sources_used(result.incidents)
            return report

        key = ("compare", version.id, area.key, *params_a.cache_key(), *params_b.cache_key())
        report = self._cached(key, run, heavy=True)
        if not view.protected:
            return version, report
        return version, self._cached(
            ("protected", view.identity, *key), lambda: protect_compare(report, view)
        )

    def stability(
        self, ref: str | None, params: AnalysisParams, *, view: Disclosure = EXACT
    ) -> tuple[Selection, AnalysisResult]:
        """The analysis (as ``view`` may see it) with ``months_hot``/``months_checked`` per hotspot and
        ``meta["stability"]`` (see :mod:`hotspots.geo.stats.stability`); cached per analysis and view.

        Twelve single-month DBSCAN fits and one of the previous period, without Gi*. The fits use
        the shown analysis's parameters (for a protected view, its protected defaults); they yield
        months and shares of hotspots, not incident counts.
        """
        version, shown = self.analyse(ref, params, view=view)
        params = self.with_harm(params)
        area = self.area_of(version, params.area)

        def run() -> AnalysisResult:
            report = hotspot_stability(self.load(version), self.analysis_sets(area, params), shown)
            return with_stability(shown, report)

        key = ("stability", view.identity, version.id, area.key, *params.cache_key())
        return version, self._cached(key, run, heavy=True)

    def k_distance(
        self,
        ref: str | None,
        params: AnalysisParams,
        k: float | None,
        fmt: str = "json",
        *,
        view: Disclosure = EXACT,
    ) -> dict[str, Any] | bytes:
        """k-distance curve (JSON) or its PNG plot, for choosing eps (:mod:`hotspots.geo.stats.parameters`).

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

    # ---- patrol plans -------------------------------------------------------------
    def patrol_plan(
        self,
        ref: str | None,
        params: AnalysisParams,
        hotspot_ids: Sequence[int] | str,
        shift: str,
        visit_min: int = 15,
        units: int | None = None,
        seed: int | None = None,
        *,
        speed_kmh: float = 30.0,
        detour: float = 1.3,
        view: Disclosure = EXACT,
    ) -> tuple[Selection, AnalysisResult, PatrolPlan]:
        """A patrol plan for hotspots of a stored dataset's analysis (ids as its ranks); see
        :mod:`hotspots.geo.plans.patrol`. ``seed`` ``None`` draws one (reported in the plan)."""
        version, result = self.analyse(ref, params, view=view)
        plan = self.patrol_plan_of(result, hotspot_ids, shift, visit_min, units, seed, speed_kmh, detour)
        return version, result, plan

    @staticmethod
    def patrol_plan_of(
        result: AnalysisResult,
        hotspot_ids: Sequence[int] | str,
        shift: str,
        visit_min: int = 15,
        units: int | None = None,
        seed: int | None = None,
        speed_kmh: float = 30.0,
        detour: float = 1.3,
    ) -> PatrolPlan:
        """A patrol plan for hotspots of an analysis in hand (the CLI's files, or a stored version's)."""
        check_patrol(visit_min, units, seed, speed_kmh, detour)
        parsed = Shift.parse(shift)
        sites = sites_from_hotspots(result.hotspots, hotspot_ids)
        return plan_patrol(
            sites,
            parsed,
            visit_min=visit_min,
            units=units,
            seed=secrets.randbelow(2**31) if seed is None else seed,
            speed_kmh=speed_kmh,
            detour=detour,
            max_units=MAX_PATROL_UNITS,
        )

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
        area = self.area_of(selection, params.area).key
        key = ("rendered", kind, selection.id, area, *self.with_harm(params).cache_key(), *variant)
        return self._cached(key, render)

    def _cached(self, key: tuple[object, ...], compute: Callable[[], T], *, heavy: bool = False) -> T:
        """One computation per key; concurrent callers of the same key wait for the first.

        ``heavy`` computations (analyses, evaluations, comparisons) take one of
        ``settings.max_concurrent_analyses`` slots while they run; a cached value is returned
        at once, without waiting for a slot. A computation is given up (:class:`Cancelled`)
        when every caller waiting for it has gone (their :data:`caller_gone` events set):
        while one of them still waits, it runs to the end. A result is stored only if no
        deletion happened while it was computed (the generation number is unchanged): a
        deleted version's data is never cached.
        """
        gone = caller_gone.get() or _NEVER_GONE
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return cast(T, self._cache[key])
            work = self._pending.get(key)
            if work is None:
                work = self._pending[key] = _Work()
            work.waiters.append(gone)
        try:
            with work.lock:
                with self._lock:
                    if key in self._cache:
                        return cast(T, self._cache[key])
                if gone.is_set():
                    raise Cancelled("the request was cancelled: its client left")
                with self._lock:
                    generation = self._generation
                with self._slot(work) if heavy else nullcontext(), cancellable(work.abandoned):
                    value = compute()
                with self._lock:
                    if generation == self._generation:
                        self._cache[key] = value
                        while len(self._cache) > self.settings.cache_size:
                            self._cache.popitem(last=False)
                return value
        finally:
            with self._lock:
                work.waiters.remove(gone)
                if not work.waiters and self._pending.get(key) is work:
                    del self._pending[key]

    @contextmanager
    def _slot(self, work: _Work) -> Iterator[None]:
        """Hold one of the slots for uncached heavy work (re-entrant within a thread)."""
        if getattr(self._held, "slot", False):
            yield
            return
        while not self._slots.acquire(timeout=SLOT_POLL_S):
            if work.abandoned():
                raise Cancelled("the request was cancelled while waiting: its client left")
        self._held.slot = True
        try:
            yield
        finally:
            self._held.slot = False
            self._slots.release()


@dataclass
class _Work:
    """A computation in progress: its lock and the callers waiting for it (their "gone" events)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    waiters: list[threading.Event] = field(default_factory=list)

    def abandoned(self) -> bool:
        waiting = tuple(self.waiters)
        return bool(waiting) and all(e.is_set() for e in waiting)


_NEVER_GONE = threading.Event()
"""The "gone" event of callers outside a request (CLI, tests, internal): never set."""
