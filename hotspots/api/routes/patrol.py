"""Patrol plans for police planners: chosen hotspots, one shift, visits by the evidence on dosage.

``GET /patrol-plan`` answers JSON, CSV, the printable page (HTML) or its PDF;
``GET /app/patrol-plan`` is the printable page for browsers (the app links to it with the
ticked hotspots). Police and admins only. The plan itself comes from
:meth:`hotspots.service.HotspotService.patrol_plan` (:mod:`hotspots.geo.plans.patrol`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from hotspots.api.auth import Police, Principal
from hotspots.api.deps import AnalysisQuery, Service, contract
from hotspots.api.templating import templates
from hotspots.geo.analysis import AnalysisParams, AnalysisResult
from hotspots.geo.outputs.export import jsonable, write_csv
from hotspots.geo.params import SPECS
from hotspots.geo.plans.patrol import PLAN_CSV_COLUMNS, PLAN_CSV_NUMERIC, PatrolPlan, plan_table
from hotspots.maps.pdf import html_to_pdf
from hotspots.service import Selection

router = APIRouter(tags=["patrol"])
DEFAULT_MONTHS = 12

Hotspots = Annotated[
    str,
    Query(
        description="Hotspot ids to patrol, separated by commas, e.g. 1,2,5 (the ranks of /hotspots with "
        "the same analysis parameters)",
        max_length=400,
    ),
]
ShiftQ = Annotated[str, Query(description=SPECS["shift"].describe(), max_length=20)]
VisitQ = Annotated[int, contract("visit_min")]
UnitsQ = Annotated[int | None, contract("units")]
SeedQ = Annotated[int | None, contract("seed")]
SpeedQ = Annotated[float, contract("speed_kmh")]
DetourQ = Annotated[float, contract("detour")]
FormatQ = Annotated[Literal["json", "csv", "html", "pdf"], Query(alias="format", description="Output")]


@router.get(
    "/patrol-plan",
    operation_id="patrol_plan",
    responses={200: {"content": {"text/csv": {}, "text/html": {}, "application/pdf": {}}}},
)
def patrol_plan(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Police,
    hotspots: Hotspots,
    shift: ShiftQ = "18:00-02:00",
    visit_min: VisitQ = 15,
    units: UnitsQ = None,
    seed: SeedQ = None,
    speed_kmh: SpeedQ = 30.0,
    detour: DetourQ = 1.3,
    fmt: FormatQ = "json",
) -> Response:
    """A patrol plan (Koper 1995): visits of ``visit_min`` minutes at each chosen hotspot, no
    more than 2 hours apart, at seeded unpredictable times, in a short visiting order; with
    ``units_needed``. The seed used is in the answer: give it again for the same plan."""
    ref, params = query
    version, result, plan = service.patrol_plan(
        ref, params, hotspots, shift, visit_min, units, seed,
        speed_kmh=speed_kmh, detour=detour, view=who.disclosure,
    )  # fmt: skip
    _audit(service, who, version, plan, fmt)
    name = f"patrol-plan-{plan.shift.text().replace(':', '')}-seed{plan.seed}"
    if fmt == "json":
        return JSONResponse(jsonable(_body(plan, version, result)))
    if fmt == "csv":
        frame = pd.DataFrame(plan_table(plan), columns=PLAN_CSV_COLUMNS, dtype=object)
        text = write_csv(frame, numeric=PLAN_CSV_NUMERIC)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    page = render_page(request, plan, version, result, params)
    if fmt == "html":
        return HTMLResponse(page)
    return Response(
        html_to_pdf(page),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.get("/app/patrol-plan", operation_id="app_patrol_plan", response_class=HTMLResponse)
def app_patrol_plan(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Police,
    hotspots: Hotspots,
    shift: ShiftQ = "18:00-02:00",
    visit_min: VisitQ = 15,
    units: UnitsQ = None,
    seed: SeedQ = None,
    speed_kmh: SpeedQ = 30.0,
    detour: DetourQ = 1.3,
) -> HTMLResponse:
    """The printable patrol plan for browsers, from the app's ticked hotspots (period as the app:
    the latest 12 months unless ``from``/``to`` are given)."""
    ref, params = query
    params = _default_period(service, ref, params)
    version, result, plan = service.patrol_plan(
        ref, params, hotspots, shift, visit_min, units, seed,
        speed_kmh=speed_kmh, detour=detour, view=who.disclosure,
    )  # fmt: skip
    _audit(service, who, version, plan, "page")
    return HTMLResponse(render_page(request, plan, version, result, params))


def _body(plan: PatrolPlan, version: Selection, result: AnalysisResult) -> dict[str, Any]:
    body = plan.as_dict()
    body["dataset"] = version.ref
    body["period"] = {"from": result.meta.get("month_from"), "to": result.meta.get("month_to")}
    return body


def render_page(
    request: Request, plan: PatrolPlan, version: Selection, result: AnalysisResult, params: AnalysisParams
) -> str:
    """The printable plan (A4): a table per unit and a list per hotspot; the PDF is the same HTML."""
    body = _body(plan, version, result)
    rows = plan_table(plan)
    units = [
        {"unit": r["unit"], "round": r["hotspots"], "rows": [row for row in rows if row["unit"] == r["unit"]]}
        for r in body["rounds"]
        if r["hotspots"]
    ]
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("seed", "format")]
    items += [("from", params.month_from or ""), ("to", params.month_to or "")] if params.month_from else []
    items = list(dict(items).items()) + [("seed", str(plan.seed))]
    query = urlencode(items)
    context = {
        "plan": body,
        "units": units,
        "sites": body["hotspots"],
        "pdf_link": f"/patrol-plan?{query}&format=pdf",
        "csv_link": f"/patrol-plan?{query}&format=csv",
        "json_link": f"/patrol-plan?{query}&format=json",
        "back_link": "/app?" + urlencode([(k, v) for k, v in items if k not in _PLAN_KEYS]),
    }
    page: str = templates.get_template("patrol_plan.html").render(context)
    return page


_PLAN_KEYS = ("hotspots", "shift", "visit_min", "units", "seed", "speed_kmh", "detour", "format")


def _default_period(service: Service, ref: str | None, params: AnalysisParams) -> AnalysisParams:
    """As the app page: with no period given, the latest :data:`DEFAULT_MONTHS` months of the data."""
    if params.month_from or params.month_to:
        return params
    selection = service.dataset(ref)
    months = sorted({m for v in selection.versions for m in v.report.get("months", [])})
    if not months:
        return params
    return replace(params, month_from=months[max(0, len(months) - DEFAULT_MONTHS)], month_to=months[-1])


def _audit(service: Service, who: Principal, version: Selection, plan: PatrolPlan, fmt: str) -> None:
    service.security.audit(
        who.name,
        who.role,
        "patrol plan",
        version.ref,
        {"format": fmt, "hotspots": [s.hotspot_id for s in plan.sites], "shift": plan.shift.text()},
    )
