"""Interventions: the operations both front doors offer (record, list, show, evaluate).

Held by :class:`hotspots.service.HotspotService` as ``service.interventions``. The domain
arithmetic is in :mod:`hotspots.geo.stats.interventions`, the table in
:mod:`hotspots.store.interventions`. Evaluations of stored datasets are cached like
analyses (by dataset version, area, intervention and parameters, and the caller's
disclosure); a protected caller's report is computed from protected counts only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from hotspots.boundaries.area import Area, sets_in_force
from hotspots.crs import BNG
from hotspots.errors import InvalidInput
from hotspots.geo.analysis import AnalysisParams
from hotspots.geo.disclosure import EXACT, Disclosure
from hotspots.geo.outputs.export import jsonable, rfc7946_geometry
from hotspots.geo.params import Weight
from hotspots.geo.stats import interventions as iv
from hotspots.geo.stats.harm import assign_harm
from hotspots.store.interventions import Intervention, InterventionRegister

if TYPE_CHECKING:
    from hotspots.service import HotspotService, Selection

MAX_HOTSPOT_IDS = 100
MAX_WARDS = 200
WHERE_KINDS = ("polygon", "hotspots", "wards")


@dataclass(frozen=True)
class EvaluationParams:
    """How to evaluate: periods, buffer, control, crime types and weight (``None``: the default).

    ``start``/``end`` default to the intervention's; ``before_months`` to the after period's
    length; ``control`` is ``auto``, ``recorded`` (the polygon stored with the intervention)
    or ``wards`` (``control_wards``, ward codes of the area).
    """

    start: str | None = None
    end: str | None = None
    before_months: int | None = None
    buffer_m: float = iv.DEFAULT_BUFFER_M
    control: str = "auto"
    control_wards: tuple[str, ...] = ()
    crime_types: tuple[str, ...] = ()
    weight: Weight = "count"
    area: str | None = None
    scale_control: bool = False
    """``wdd`` with the control weighted to the target's size (default: the plain formula; both are
    always reported, as ``wdd_plain`` and ``wdd_scaled``; :func:`hotspots.geo.stats.interventions.wdd`)."""

    def validate(self) -> None:
        iv.check_month(self.start, "start")
        iv.check_month(self.end, "end")
        if self.control not in ("auto", "recorded", "wards", "polygon"):
            raise InvalidInput(f"control must be auto, recorded or wards, got {self.control!r}")
        if self.control == "wards" and not self.control_wards:
            raise InvalidInput("control=wards needs at least one control_ward")
        if len(self.control_wards) > MAX_WARDS:
            raise InvalidInput(f"at most {MAX_WARDS} control wards")
        if self.weight not in ("count", "harm"):
            raise InvalidInput(f"weight must be count or harm, got {self.weight!r}")
        if not iv.MIN_BUFFER_M <= self.buffer_m <= iv.MAX_BUFFER_M:
            raise InvalidInput(
                f"buffer_m must be between {iv.MIN_BUFFER_M:g} and {iv.MAX_BUFFER_M:g} metres, "
                f"got {self.buffer_m:g}"
            )
        if self.before_months is not None and not 1 <= self.before_months <= iv.MAX_BEFORE_MONTHS:
            raise InvalidInput(f"before_months must be between 1 and {iv.MAX_BEFORE_MONTHS}")

    def as_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def normalise_kind(kind: str) -> str:
    key = kind.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in iv.INTERVENTION_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(iv.INTERVENTION_TYPES)}, got {kind!r}")
    return key


def _geometry_key(geom: BaseGeometry | None) -> str:
    return "" if geom is None else hashlib.blake2b(shapely.to_wkb(geom), digest_size=12).hexdigest()


class InterventionOps:
    """Record, list and evaluate interventions, over one service."""

    def __init__(self, service: HotspotService) -> None:
        self.service = service
        self.register = InterventionRegister(service.store)

    # ---- records --------------------------------------------------------------------------
    def record(
        self,
        *,
        name: str,
        kind: str,
        start: str,
        end: str | None = None,
        partner: str = "",
        notes: str = "",
        polygon: bytes | str | dict[str, Any] | None = None,
        hotspot_ids: Sequence[int] = (),
        dataset: str | None = None,
        analysis: AnalysisParams | None = None,
        wards: Sequence[str] = (),
        control: bytes | str | dict[str, Any] | None = None,
        area: str | None = None,
        created_by: str = "cli",
        view: Disclosure = EXACT,
    ) -> Intervention:
        """Record an intervention where exactly one of ``polygon`` (GeoJSON, WGS84), ``hotspot_ids``
        (of the analysis of ``dataset`` with ``analysis``, as ``view`` sees it) or ``wards`` (codes)
        says where; its shape is frozen into the record. ``control`` is an optional GeoJSON
        control polygon kept with it (``control=recorded`` at evaluation)."""
        name = (name or "").strip()
        if not name:
            raise InvalidInput("an intervention needs a name")
        kind = normalise_kind(kind)
        iv.check_month(start, "start")
        iv.check_month(end, "end")
        if not start:
            raise InvalidInput("an intervention needs a start month, YYYY-MM")
        if end is not None and end < start:
            raise InvalidInput(f"end ({end}) is before start ({start})")
        given = [polygon is not None, bool(hotspot_ids), bool(wards)]
        if sum(given) != 1:
            raise InvalidInput("say where with exactly one of: a polygon (GeoJSON), hotspot ids, wards")
        source: dict[str, Any]
        if hotspot_ids:
            if len(hotspot_ids) > MAX_HOTSPOT_IDS:
                raise InvalidInput(f"at most {MAX_HOTSPOT_IDS} hotspot ids")
            params = analysis or AnalysisParams(area=area)
            selection, result = self.service.analyse(dataset, params, view=view)
            where = self.service.area_of(selection, params.area)
            shown = result.hotspots
            ids = sorted({int(i) for i in hotspot_ids})
            known = set(shown["hotspot_id"].astype(int))
            missing = [i for i in ids if i not in known]
            if missing:
                raise InvalidInput(
                    f"no hotspot(s) {', '.join(map(str, missing))} in this analysis ({len(known)} hotspots)"
                )
            picked = shown[shown["hotspot_id"].astype(int).isin(ids)]
            geom = shapely.union_all(picked.geometry.to_numpy())
            source = {"hotspot_ids": ids, "dataset": selection.ref, "analysis": jsonable(asdict(params))}
            kind_where = "hotspots"
        elif wards:
            where = self.service.area(area)
            codes = sorted({str(c).strip() for c in wards if str(c).strip()})
            if len(codes) > MAX_WARDS:
                raise InvalidInput(f"at most {MAX_WARDS} wards")
            table = self._wards(where, start)
            have = table["ward_code"].astype(str)
            unknown = [c for c in codes if c not in set(have)]
            if unknown or not codes:
                raise InvalidInput(
                    f"ward(s) not in area {where.name!r}: {', '.join(unknown[:10]) or 'none given'}"
                )
            geom = shapely.union_all(table.geometry[have.isin(codes).to_numpy()].to_numpy())
            source = {"wards": codes}
            kind_where = "wards"
        else:
            where = self.service.area(area)
            assert polygon is not None
            geom = iv.parse_geojson_polygon(polygon, what="target")
            source = {}
            kind_where = "polygon"
        geom = shapely.make_valid(geom) if not geom.is_valid else geom
        iv.check_polygon(geom, where.outline, "target")
        control_geom = None
        if control is not None:
            control_geom = iv.check_polygon(
                iv.parse_geojson_polygon(control, what="control"), where.outline, "control"
            )
        return self.register.add(
            name=name,
            kind=kind,
            partner=(partner or "").strip(),
            start=start,
            end=end,
            area=where.name,
            where_kind=kind_where,
            source=source,
            geometry=geom,
            control=control_geom,
            notes=(notes or "").strip(),
            created_by=created_by,
        )

    def all(self) -> list[Intervention]:
        return self.register.all()

    def get(self, ident: str) -> Intervention:
        return self.register.get(ident)

    def delete(self, ident: str) -> Intervention:
        record = self.register.delete(ident)
        with self.service._lock:
            self.service._cache.clear()
        return record

    @staticmethod
    def feature(record: Intervention) -> dict[str, Any]:
        """An RFC 7946 Feature (WGS84, 6 decimals) of one intervention."""
        return {
            "type": "Feature",
            "id": record.id,
            "properties": record.describe(),
            "geometry": rfc7946_geometry(iv.to_wgs84(record.geometry)),
        }

    def frame(
        self, records: Sequence[Intervention] | None = None, within: BaseGeometry | None = None
    ) -> gpd.GeoDataFrame:
        """The interventions as a GeoDataFrame in EPSG:27700 (``id``, ``name``, ``type``, ``partner``,
        ``start``, ``end``, geometry), for maps and briefings; with ``within`` (EPSG:27700) only
        those whose shape overlaps it (touching an edge is not enough), newest start first."""
        records = self.all() if records is None else records
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "type": r.kind,
                "partner": r.partner,
                "start": r.start,
                "end": r.end,
                "geometry": r.geometry,
            }
            for r in records
            if within is None or _overlaps(r.geometry, within)
        ]
        columns = ["id", "name", "type", "partner", "start", "end", "geometry"]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry="geometry", crs=BNG)

    def token(self) -> str:
        """A short digest of the recorded interventions' ids (a record never changes, it only comes
        and goes): pages that draw them key their cache on it. Reads no geometry."""
        ids = ",".join(sorted(self.register.ids()))
        return hashlib.blake2b(ids.encode(), digest_size=8).hexdigest()

    def feature_collection(self, records: Sequence[Intervention] | None = None) -> dict[str, Any]:
        records = self.all() if records is None else records
        return {"type": "FeatureCollection", "features": [self.feature(r) for r in records]}

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(
        self, ident: str, ref: str | None, params: EvaluationParams, *, view: Disclosure = EXACT
    ) -> dict[str, Any]:
        """The evaluation of a recorded intervention on stored dataset(s) ``ref``, as ``view`` may see it."""
        params.validate()
        record = self.get(ident)
        service = self.service
        selection = service.dataset(ref)
        area = service.area(params.area) if params.area else self._area_for(selection, record)
        key = (
            "intervention-evaluation",
            selection.id,
            area.key,
            record.id,
            _geometry_key(record.geometry),
            repr(sorted(params.as_dict().items())),
            service.harm.to_items() if params.weight == "harm" else (),
            view.identity,
        )

        def run() -> dict[str, Any]:
            incidents = service.load(selection)
            report = self.evaluate_incidents(
                incidents,
                record.geometry,
                area,
                params,
                start=params.start or record.start,
                end=params.end or record.end,
                control_geometry=record.control,
                view=view,
                sources=selection,
            )
            report["intervention"] = record.describe()
            report["dataset"] = selection.ref
            return report

        return service._cached(key, run, heavy=True)

    def _area_for(self, selection: Selection, record: Intervention) -> Area:
        try:
            return self.service.area_of(selection)
        except InvalidInput:
            return self.service.area(record.area)

    def _wards(self, area: Area, month: str) -> Any:
        return wards_table(area, month)

    def evaluate_incidents(
        self,
        incidents: pd.DataFrame,
        target: BaseGeometry,
        area: Area,
        params: EvaluationParams,
        *,
        start: str | None = None,
        end: str | None = None,
        control_geometry: BaseGeometry | None = None,
        buffer_control: BaseGeometry | None = None,
        view: Disclosure = EXACT,
        sources: Selection | None = None,
    ) -> dict[str, Any]:
        """The evaluation of incidents in hand (the CLI's files, a stored version's) around ``target``
        (EPSG:27700) in ``area``. Not cached."""
        params.validate()
        start = start or params.start
        if not start:
            raise InvalidInput("an evaluation needs a start month, YYYY-MM")
        covered = sorted(str(m) for m in incidents["month"].dropna().astype(str).unique())
        periods = iv.choose_periods(covered, start, end or params.end, params.before_months)
        selected = _crime_types(incidents, params.crime_types)
        wards = self._wards(area, start)
        if params.control == "wards":
            control = iv.Control("wards", wards=params.control_wards)
        elif params.control in ("recorded", "polygon"):
            if control_geometry is None:
                raise InvalidInput("no control polygon was recorded with this intervention: use control=auto")
            control = iv.Control("polygon", geometry=control_geometry)
        else:
            control = iv.Control()
        areas = iv.build_areas(target, area.outline, wards, params.buffer_m, control, buffer_control)
        weights = None
        if params.weight == "harm":
            weights = assign_harm(selected["crime_type"], self.service.harm).weights
        report = iv.evaluate(
            selected.reset_index(drop=True),
            areas,
            wards,
            periods,
            weights=weights,
            view=view,
            scale_control=params.scale_control,
        )
        report["parameters"] = {
            **params.as_dict(),
            "start": start,
            "end": end or params.end,
            "control_rule": areas.control_rule,
            "crime_types": list(params.crime_types) or "all",
        }
        report["area"] = {"name": area.name, "title": area.title}
        report["sources"] = sources.sources_used(selected) if sources is not None else []
        report["geometry"] = {
            "target": rfc7946_geometry(iv.to_wgs84(areas.target)),
            "buffer": rfc7946_geometry(iv.to_wgs84(areas.buffer)),
        }
        report["verdict"] = iv.verdict(report)
        if view.protected:
            report["disclosure"] = view.describe()
        return jsonable(report)


def frame_within(frame: gpd.GeoDataFrame, within: BaseGeometry) -> gpd.GeoDataFrame:
    """The rows of an interventions frame (:meth:`InterventionOps.frame`) overlapping ``within``
    (EPSG:27700) by some area, not merely an edge."""
    keep = [_overlaps(g, within) for g in frame.geometry]
    return frame[keep] if len(frame) else frame


def _overlaps(geom: BaseGeometry, within: BaseGeometry) -> bool:
    """Whether two shapes (EPSG:27700) share some area (more than 1 m²), not merely an edge."""
    if not geom.intersects(within):
        return False
    return bool(shapely.area(shapely.intersection(geom, within)) > 1.0)


def _crime_types(incidents: pd.DataFrame, crime_types: Sequence[str]) -> pd.DataFrame:
    if not crime_types:
        return incidents
    wanted = {c.casefold() for c in crime_types}
    have = incidents["crime_type"].astype("string").str.casefold()
    known = set(have.dropna().unique())
    unknown = sorted(wanted - known)
    if unknown:
        raise InvalidInput(
            f"unknown crime type(s): {', '.join(unknown)}; the data has: "
            + ", ".join(sorted(str(c) for c in incidents["crime_type"].dropna().unique()))
        )
    return incidents.loc[have.isin(wanted).fillna(False).to_numpy(dtype=bool)]


def wards_table(area: Area, month: str) -> Any:
    """The area's wards in force in ``month`` (code, name, geometry in EPSG:27700)."""
    bset = sets_in_force(area.sets, [month])[-1]
    return bset.wards[["ward_code", "ward_name", "geometry"]].reset_index(drop=True)
