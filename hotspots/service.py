"""The operations both front doors (API and CLI) offer, over the store and the domain code.

Holds the boundary sets and an in-memory cache of analysis results keyed by
(dataset version, parameters), safe to use from several threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any, TypeVar, cast

import geopandas as gpd
import pandas as pd
import shapely

from hotspots.boundaries import BoundarySet, read_boundary_file, shipped_boundary_sets
from hotspots.errors import InvalidInput, NotFound
from hotspots.geo.analysis import AnalysisParams, AnalysisResult, analyse
from hotspots.geo.assessment import compare, emerging_layer, evaluate_hotspots
from hotspots.geo.cancel import Cancelled, caller_gone, cancellable
from hotspots.geo.disclosure import suppress, suppress_cells
from hotspots.geo.harm import DEFAULT_HARM, parse_harm_weights
from hotspots.geo.ingest import (
    ColumnMapping,
    Format,
    IngestReport,
    IngestResult,
    OutsidePolicy,
    Source,
    read_incidents,
)
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
        self._pending: dict[tuple[object, ...], _Work] = {}
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_analyses)
        self._held = threading.local()
        self._boundaries: dict[str, BoundarySet] | None = None
        self._selections: dict[str | None, tuple[float, Selection]] = {}
        self.harm = (
            parse_harm_weights(settings.harm_weights_file.read_bytes())
            if settings.harm_weights_file is not None
            else DEFAULT_HARM
        )

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
        result = self.read(sources, fmt=fmt, mapping=mapping, outside=outside, size_limited=size_limited)
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
        outside: OutsidePolicy = "reject",
        size_limited: bool = True,
    ) -> IngestResult:
        """Validate incident files as an upload is validated, without storing them (the CLI's files)."""
        return read_incidents(
            sources,
            fmt=fmt,
            mapping=mapping,
            area=self.study_area(),
            max_outside_m=self.settings.max_outside_km * 1000,
            outside=outside,
            max_bytes=self.settings.max_upload_bytes if size_limited else None,
            max_errors=self.settings.max_reported_errors,
        )

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
        """Incidents of the selected versions, with ``dataset``, ``source_type`` and ``owner`` columns."""
        frames = []
        for version, sharing in zip(selection.versions, selection.sharing, strict=True):
            frame = self.store.load_incidents(version)
            frames.append(
                frame.assign(dataset=version.ref, source_type=sharing.source_type, owner=sharing.owner)
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
        self, ref: str | None, params: AnalysisParams, *, exact: bool = True
    ) -> tuple[Selection, AnalysisResult]:
        """Analysis of a dataset version, computed once per (version, parameters).

        ``exact=False`` gives the disclosure-controlled copy (counts from 1 to
        k-1 suppressed; see :mod:`hotspots.geo.disclosure`), also cached.
        """
        version = self.dataset(ref)
        params = self.with_harm(params)
        params.validate()

        def compute() -> AnalysisResult:
            result = self.analyse_incidents(self.load(version), params, dataset=version.ref)
            result.meta["sources"] = version.sources_used(result.incidents)
            return result

        key = ("analysis", version.id, *params.cache_key())
        result = self._cached(key, compute, heavy=True)
        if exact:
            return version, result
        k = self.settings.disclosure_k
        return version, self._cached(("suppressed", k, *key), lambda: suppress(result, k))

    def analyse_incidents(
        self, incidents: pd.DataFrame, params: AnalysisParams, *, dataset: str, statistics: bool = True
    ) -> AnalysisResult:
        """The analysis of incidents in hand (not cached): the CLI's files, or a stored version's."""
        params = self.with_harm(params)
        params.validate()
        result = analyse(incidents, self.boundary_sets, params, statistics=statistics)
        result.meta["dataset"] = dataset
        return result

    def evaluate_incidents(
        self, incidents: pd.DataFrame, params: AnalysisParams, test_month: str | None, n_tests: int
    ) -> dict[str, Any]:
        """Fit-then-test evaluation of incidents in hand (not cached); see ``evaluate_hotspots``."""
        params = self.with_harm(params)
        params.validate()
        return evaluate_hotspots(
            incidents, self.boundary_sets, params, test_month=test_month, n_tests=n_tests
        )

    def emerging(
        self, ref: str | None, params: AnalysisParams, *, exact: bool = True
    ) -> tuple[Selection, AnalysisResult, gpd.GeoDataFrame]:
        """Emerging hot spot cells for the analysis's months and study area."""
        version, result = self.analyse(ref, params)
        key = ("emerging", version.id, *params.cache_key())
        cells = self._cached(key, lambda: emerging_layer(result, params.cell_size_m), heavy=True)
        if exact:
            return version, result, cells
        k = self.settings.disclosure_k
        _, shown = self.analyse(ref, params, exact=False)
        return version, shown, self._cached(("suppressed", k, *key), lambda: suppress_cells(cells, k))

    def evaluate(
        self, ref: str | None, params: AnalysisParams, test_month: str | None, n_tests: int
    ) -> tuple[Selection, dict[str, Any]]:
        """Fit-then-test evaluation (PAI, PEI, RRI, baselines); see ``evaluate_hotspots``."""
        version = self.dataset(ref)
        params = self.with_harm(params)
        params.validate()
        return version, self._cached(
            ("evaluate", version.id, *params.cache_key(), test_month, n_tests),
            lambda: self.evaluate_incidents(self.load(version), params, test_month, n_tests),
            heavy=True,
        )

    def compare(
        self, ref: str | None, params_a: AnalysisParams, params_b: AnalysisParams
    ) -> tuple[Selection, dict[str, Any]]:
        """Two periods compared: hotspots new/persistent/vanished and change per ward."""
        version = self.dataset(ref)
        params_a, params_b = self.with_harm(params_a), self.with_harm(params_b)
        params_a.validate()
        params_b.validate()
        return version, self._cached(
            ("compare", version.id, *params_a.cache_key(), *params_b.cache_key()),
            lambda: compare(self.load(version), self.boundary_sets, params_a, params_b),
            heavy=True,
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

    def _cached(self, key: tuple[object, ...], compute: Callable[[], T], *, heavy: bool = False) -> T:
        """One computation per key; concurrent callers of the same key wait for the first.

        ``heavy`` computations (analyses, evaluations, comparisons) take one of
        ``settings.max_concurrent_analyses`` slots while they run; a cached value is returned
        at once, without waiting for a slot. A computation is given up (:class:`Cancelled`)
        when every caller waiting for it has gone (their :data:`caller_gone` events set):
        while one of them still waits, it runs to the end.
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
                with self._slot(work) if heavy else nullcontext(), cancellable(work.abandoned):
                    value = compute()
                with self._lock:
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
