"""The app page analysts open every morning, its briefings, slide PNG and compare view.

Handlers stay thin: the analysis comes from the service, the words and table
from :mod:`hotspots.maps.panel`, the map from :mod:`hotspots.maps.render`,
pictures from :mod:`hotspots.maps.static_map` and PDFs from
:mod:`hotspots.maps.pdf`. A bad filter on the app page is shown in the page
(with the status of the error) rather than as JSON.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotspots.api.auth import KEY_COOKIE, Principal, Viewer
from hotspots.api.bodies import Body, body_response
from hotspots.api.csrf import CSRF_FIELD, form_is_genuine, page_token, set_token_cookie
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.api.errors import status_for
from hotspots.api.templating import APP_PREFIX, templates
from hotspots.demo import APP_CATEGORY, SAMPLE_NOTES
from hotspots.errors import HotspotError, InvalidInput, NotFound
from hotspots.geo.analysis import AnalysisParams, AnalysisResult
from hotspots.maps import MapOptions, render_parts
from hotspots.maps.compare import ward_change_parts
from hotspots.maps.fmt import count_text, district_words, num
from hotspots.maps.intervention_layer import months_text
from hotspots.maps.layers import latlon_bounds
from hotspots.maps.panel import (
    borough_focus,
    choices,
    hotspot_rows,
    method_in_words,
    result_in_words,
)
from hotspots.maps.pdf import html_to_pdf
from hotspots.service import Selection
from hotspots.service_interventions import frame_within

router = APIRouter(tags=["app"])
APP_LAYERS = ("heat", "significance", "emerging", "interventions")
DEFAULT_LAYERS: tuple[str, ...] = ()
"""Layers that compete with the hotspots start off (they are in the layer list, one tick away)."""
TOP_HOTSPOTS = 10
"""The strongest hotspots drawn to stand out and numbered on the map; the rest drawn quieter."""
MIN_DEFAULT_MONTHS = 3
"""The app's default dataset needs this many months (one month says little about hotspots)."""
VIEW_PARAMS = ("zoom", "lat", "lon", "hotspot")
"""Query parameters the page's script reads (shareable view); the server ignores them."""
DEFAULT_MONTHS = 12
SESSION_S = 12 * 3600  # a signed-in browser keeps its key for one working day
BRIEFING_CARDS = 12  # hotspots described in full in a borough briefing (the rest are on the map page)

Boroughs = Annotated[
    list[str] | None, Query(alias="borough", description="Show hotspots touching these boroughs; repeat")
]
Measure = Annotated[Literal["count", "rate"], Query(description="Shade wards by count or rate per 1,000")]
Breaks = Annotated[
    Literal["quantile", "natural"], Query(description="Ward classes: quantiles or natural breaks")
]
BriefHotspot = Annotated[int | None, Query(ge=1, description="Rank of the hotspot to brief on")]
BriefBorough = Annotated[str | None, Query(description="Borough to brief on (its hotspots)")]
Tiles = Annotated[Literal["osm", "none"], Query(description="Base map: OpenStreetMap tiles or none")]


@router.get("/app", operation_id="app_page", response_class=HTMLResponse)
def app_page(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    borough: Boroughs = None,
    measure: Measure = "count",
    breaks: Breaks = "quantile",
    tiles: Tiles = "osm",
    layer: Annotated[
        list[str] | None, Query(description="Layers shown on opening: heat, significance, emerging; repeat")
    ] = None,
    layers_set: Annotated[
        bool, Query(description="The form was submitted, so an empty layer list means no layers")
    ] = False,
    zoom: Annotated[
        float | None, Query(ge=0, le=20, description="Map zoom (read by the page's script)")
    ] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="Map centre latitude (script)")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="Map centre longitude (script)")] = None,
    hotspot: Annotated[int | None, Query(ge=1, description="Hotspot chosen on the map (script)")] = None,
) -> Response:
    """The map with filters, the ranked hotspot table, legend and links to briefings and exports.

    Without ``dataset`` the page opens on the newest dataset holding violence (see
    :func:`app_default`); the API's own default is unchanged. ``zoom``, ``lat``, ``lon`` and
    ``hotspot`` make a view shareable: the page's script applies them and keeps them current.
    """
    ref, params = query
    if ref is None:
        ref = app_default(service)
    wanted = set(layer or ()) if (layer or layers_set) else set(DEFAULT_LAYERS)
    unknown = wanted - set(APP_LAYERS)
    if unknown:
        raise InvalidInput(
            f"unknown layer(s): {', '.join(sorted(unknown))}; choose from {', '.join(APP_LAYERS)}"
        )
    selection = service.dataset(ref)
    months = _months(selection)
    params, notice = _clamp_period(params, months)
    params = _default_period(params, months)
    area = service.area_of(selection)
    server_tiles = service.settings.tiles.strip().lower() != "none"
    tiles = tiles if server_tiles else "none"
    form = _form_state(ref, params, borough or [], measure, breaks, tiles, wanted)
    sources = _sources(selection)
    credited = data_credit(selection)
    credit = credited["credit"]
    context: dict[str, Any] = {
        "sources": sources,
        **credited,
        "form": form,
        "months": months,
        "crime_types": choices(ct for v in selection.versions for ct in v.report.get("crime_types", {})),
        "dataset": selection.ref,
        "datasets": _dataset_choices(service),
        "loading": sorted(getattr(request.app.state, "loading", ())),
        "holds": [_holds(v) for v in selection.versions],
        "area_title": area.title,
        "area_name": area.name,
        "district_word": f"{area.district_word}s".capitalize(),
        "district_one": area.district_word,
        "server_tiles": server_tiles,
        "sees_wards": who.role in ("council", "admin"),
        "is_admin": who.role == "admin",
        "plans_patrols": who.role in ("police", "admin"),
        "notice": notice,
        "error": None,
        "signed_in": KEY_COOKIE in request.cookies,
    }
    try:
        emerging = None
        if "emerging" in wanted:
            version, result, emerging = service.emerging(ref, params, view=who.disclosure)
        else:
            version, result = service.analyse(ref, params, view=who.disclosure)
    except HotspotError as exc:
        context["error"] = exc.message
        context["boroughs"] = []
        return templates.TemplateResponse(request, "app.html", context, status_code=status_for(exc))
    shown = borough_focus(result, borough or [])
    options = MapOptions(
        tiles=service.settings.tiles if tiles == "osm" else "none",
        tiles_attribution=service.settings.tiles_attribution,
        static_prefix=str(request.app.state.static_prefix),
        title="",
        show_title=False,
        measure=measure,
        breaks=breaks,
        heat=True,
        significance=True,
        show_heat="heat" in wanted,
        show_significance="significance" in wanted,
        # interventions: ticked when one lies in view, unless the form or a shared link said
        show_interventions=("interventions" in wanted) if (layer or layers_set) else None,
        top=TOP_HOTSPOTS,
        legend_open=False,
        data_credit=credit or None,
    )
    # The whole page (its links carry the query string) is built once per view and kept gzipped;
    # the view parameters (zoom, centre, chosen hotspot) are the script's, not part of the page.
    page_query = [(k, v) for k, v in request.query_params.multi_items() if k not in VIEW_PARAMS]
    variant: tuple[object, ...] = (
        service.interventions.token(),
        who.disclosure.identity,
        who.role,
        ref,
        urlencode(page_query),
        bool(context["signed_in"]),
        options.tiles,
        options.static_prefix,
        tuple(d["label"] for d in context["datasets"]),  # the picker: a new dataset is a new page
        tuple(context["loading"]),
    )

    def page() -> Body:
        interventions = service.interventions.frame(within=area.outline)
        parts = render_parts(shown, options, emerging, interventions)
        context.update(
            boroughs=choices(result.boroughs["borough_name"]) if len(result.boroughs) else [],
            parts=parts,
            interventions_here=interventions is not None and not interventions.empty,
            rows=hotspot_rows(shown.hotspots, shown.meta),
            harm_mode=result.meta.get("weight") == "harm",
            method=method_in_words(result.meta),
            summary=result_in_words(shown),
            meta=shown.meta,
            total_hotspots=len(result.hotspots),
            top=TOP_HOTSPOTS,
            link_query=_link_query(request, params, ref=ref),
            brief_query=_link_query(request, params, drop=("borough", "layer", "layers_set"), ref=ref),
            export_query=_link_query(request, params, keep=EXPORT_PARAMS, ref=ref),
            config={
                "map": parts.map_var,
                "hotspots": parts.hotspot_var,
                "top": TOP_HOTSPOTS,
                "bounds": latlon_bounds(
                    shown.wards if borough or not len(shown.boroughs) else shown.boroughs
                ),
            },
        )
        return Body.of(templates.get_template("app.html").render(context))

    body = service.rendered("app-page", version, params, variant, page)
    return body_response(request, body, "text/html; charset=utf-8")


def app_default(service: Service) -> str | None:
    """The dataset the app page opens on: the newest (by last month) holding violence
    (:data:`hotspots.demo.APP_CATEGORY`) over at least :data:`MIN_DEFAULT_MONTHS` months; else
    ``None`` (the API's default dataset)."""
    best: tuple[str, str] | None = None
    for version in _latest_versions(service):
        report = version.report
        months = sorted(report.get("months") or [])
        if APP_CATEGORY not in (report.get("crime_types") or {}) or len(months) < MIN_DEFAULT_MONTHS:
            continue
        if best is None or months[-1] > best[0]:
            best = (months[-1], version.name)
    return best[1] if best else None


def _latest_versions(service: Service) -> list[Any]:
    latest: dict[str, Any] = {}
    for version in service.store.list_datasets():
        latest[version.name] = version  # listed by name, then version: the last is the newest
    return list(latest.values())


def _dataset_choices(service: Service) -> list[dict[str, str]]:
    """The dataset picker's options: name and the period it covers, newest data first."""
    out = []
    for version in _latest_versions(service):
        months = sorted(version.report.get("months") or [])
        span = f"{months[0]} to {months[-1]}" if months else "no months"
        out.append(
            {"name": version.name, "label": f"{version.name} ({span})", "last": months[-1] if months else ""}
        )
    return sorted(out, key=lambda d: d["last"], reverse=True)


def _holds(version: Any) -> dict[str, Any]:
    """What a dataset holds and lacks: categories, months and missing months, and its note."""
    report = version.report
    months = sorted(report.get("months") or [])
    missing: list[str] = []
    if months:
        y, m = (int(p) for p in months[0].split("-"))
        present = set(months)
        while f"{y:04d}-{m:02d}" <= months[-1]:
            if f"{y:04d}-{m:02d}" not in present:
                missing.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    types = sorted(report.get("crime_types") or {})
    note = SAMPLE_NOTES.get(version.name, "")
    lacks = [
        t for t in (APP_CATEGORY, "Anti-social behaviour") if t not in types and t.lower() not in note.lower()
    ]
    return {
        "name": version.name,
        "ref": version.ref,
        "period": f"{months[0]} to {months[-1]} ({len(months)} months)" if months else "no months",
        "missing": missing,
        "types": len(types),
        "lacks": lacks,
        "note": note,
    }


def _sources(selection: Selection) -> list[dict[str, Any]]:
    """Each dataset of the selection with its owner, source type and its own crime types (kept
    apart: a partner's injury types are not police crime types)."""
    return [
        {
            "dataset": v.name,
            "owner": sharing.owner or v.name,
            "source_type": sharing.source_type or "other",
            "types": choices(v.report.get("crime_types", {})),
        }
        for v, sharing in zip(selection.versions, selection.sharing, strict=True)
    ]


def data_credit(selection: Selection) -> dict[str, Any]:
    """Who a page credits for its data (``_credit.html``): ``credit``, each source's owner (with its
    source type unless police), and ``source_types``, for the police.uk licence line."""
    sources = _sources(selection)
    credit = "; ".join(
        dict.fromkeys(
            s["owner"] if s["source_type"] == "police" else f"{s['owner']} ({s['source_type']})"
            for s in sources
        )
    )
    return {"credit": credit, "source_types": sorted({str(s["source_type"]) for s in sources})}


def _clamp_period(params: AnalysisParams, months: list[str]) -> tuple[AnalysisParams, str | None]:
    """A period reaching outside the data is cut to the data's months, and the page says so."""
    if not months:
        return params, None
    first, last = months[0], months[-1]
    lo, hi = params.month_from, params.month_to
    new_lo = min(max(lo, first), last) if lo else lo
    new_hi = max(min(hi, last), first) if hi else hi
    if (new_lo, new_hi) == (lo, hi):
        return params, None
    asked = f"{lo or first} to {hi or last}"
    notice = f"The data cover {first} to {last}; the period asked for ({asked}) was cut to fit."
    return replace(params, month_from=new_lo, month_to=new_hi), notice


@router.get("/app/briefing", operation_id="app_briefing", response_class=HTMLResponse)
def briefing(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    hotspot: BriefHotspot = None,
    borough: BriefBorough = None,
) -> HTMLResponse:
    """A printable patrol briefing for one hotspot or one borough (print it, or use the PDF)."""
    return HTMLResponse(_briefing(request, service, query, who, hotspot, borough)[0])


@router.get(
    "/app/briefing.pdf",
    operation_id="app_briefing_pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def briefing_pdf(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    hotspot: BriefHotspot = None,
    borough: BriefBorough = None,
) -> Response:
    """The same briefing as a PDF (A4)."""
    document, (version, params) = _briefing(request, service, query, who, hotspot, borough)
    variant = (who.disclosure.identity, hotspot, borough, service.interventions.token())
    pdf = service.rendered("briefing-pdf", version, params, variant, lambda: html_to_pdf(document))
    name = f"briefing-hotspot-{hotspot}" if hotspot else f"briefing-{_slug(borough or 'area')}"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.get(
    "/app/map.png",
    operation_id="app_map_png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def map_picture(
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    borough: Boroughs = None,
    measure: Measure = "count",
    breaks: Breaks = "quantile",
) -> Response:
    """The current map as a 16:9 PNG for slides (wards, boroughs, hotspots, legend, scale bar)."""
    from hotspots.maps.static_map import map_png  # matplotlib: not loaded before a picture is asked for

    ref, params = query
    params = _default_period(params, _months(service.dataset(ref)))
    version, result = service.analyse(ref, params, view=who.disclosure)
    shown = borough_focus(result, borough or [])
    title = slide_title(result.meta, params, borough or [], measure, version.ref)
    variant = (who.disclosure.identity, tuple(sorted(borough or [])), measure, breaks)
    png = service.rendered(
        "app-png",
        version,
        params,
        variant,
        lambda: map_png(shown, measure=measure, breaks=breaks, title=title),
    )
    return Response(
        png, media_type="image/png", headers={"Content-Disposition": 'inline; filename="map.png"'}
    )


def slide_title(
    meta: dict[str, Any], params: AnalysisParams, boroughs: list[str], measure: str, dataset: str
) -> str:
    """The slide's title: period, every filter applied and the data, e.g.
    "Hotspots, 2020-01 to 2020-12: Robbery, Burglary; hotspots touching Northside; wards by rate
    per 1,000 residents; hotspot radius 100 m, at least 9 incidents within it (data x@1)"."""
    types = params.crime_types
    what = ", ".join(types) if len(types) <= 3 else f"{', '.join(types[:3])} and {len(types) - 3} more"
    parts = [what or "all crime types"]
    if boroughs:
        parts.append("hotspots touching " + ", ".join(boroughs))
    if params.sources:
        parts.append("sources " + ", ".join(params.sources))
    if params.weight == "harm":
        parts.append("weighted by harm")
    parts.append("wards by rate per 1,000 residents" if measure == "rate" else "wards by count")
    method = method_in_words(meta).replace(" (chosen from the data)", "")
    parts.append(method[:1].lower() + method[1:])
    return f"Hotspots, {meta['month_from']} to {meta['month_to']}: {'; '.join(parts)} (data {dataset})"


@router.get("/app/compare", operation_id="app_compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    service: Service,
    query: AnalysisQuery,
    who: Viewer,
    a_from: Annotated[str | None, Query(description="Period A first month, YYYY-MM")] = None,
    a_to: Annotated[str | None, Query(description="Period A last month, YYYY-MM")] = None,
    b_from: Annotated[str | None, Query(description="Period B first month, YYYY-MM")] = None,
    b_to: Annotated[str | None, Query(description="Period B last month, YYYY-MM")] = None,
    tiles: Tiles = "osm",
) -> HTMLResponse:
    """Two periods side by side: ward change (diverging colours) and new, persistent and gone hotspots."""
    ref, params = query
    selection = service.dataset(ref)
    months = _months(selection)
    a_from, a_to, b_from, b_to = _default_periods(
        months, a_from, a_to, b_from, b_to, params.month_from, params.month_to
    )
    server_tiles = service.settings.tiles.strip().lower() != "none"
    tiles = tiles if server_tiles else "none"
    context: dict[str, Any] = {
        "dataset": selection.ref,
        "server_tiles": server_tiles,
        **data_credit(selection),
        "months": months,
        "crime_types": choices(ct for v in selection.versions for ct in v.report.get("crime_types", {})),
        "form": {
            "a_from": a_from,
            "a_to": a_to,
            "b_from": b_from,
            "b_to": b_to,
            "tiles": tiles,
            "dataset": ref or "",
            "categories": list(params.crime_types),
        },
        # the app's other filters (radius, density, boundaries, ...) ride along unchanged
        "hidden": [
            (k, v) for k, v in request.query_params.multi_items() if k not in COMPARE_OWN and k != "dataset"
        ],
        "back_link": "/app?"
        + urlencode(
            [(k, v) for k, v in request.query_params.multi_items() if k not in COMPARE_OWN]
            + [("from", b) for b in (b_from,) if b]
            + [("to", b) for b in (b_to,) if b]
            + [("category", c) for c in params.crime_types]
            + ([("tiles", tiles)] if tiles != "osm" else [])
        ),
        "error": None,
        "k": service.settings.disclosure_k,
    }
    try:
        _, report = service.compare(
            ref,
            replace(params, month_from=a_from, month_to=a_to),
            replace(params, month_from=b_from, month_to=b_to),
            view=who.disclosure,
        )
    except HotspotError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "compare.html", context, status_code=status_for(exc))
    a, b = report["results"]
    wards = report["wards"]
    prefix = str(request.app.state.static_prefix)
    parts, legend = service.rendered(
        "compare-map",
        selection,
        params,
        (who.disclosure.identity, a_from, a_to, b_from, b_to, tiles, prefix),
        lambda: ward_change_parts(
            b,
            wards,
            report["matches"],
            tiles=service.settings.tiles if tiles == "osm" else "none",
            tiles_attribution=service.settings.tiles_attribution,
            static_prefix=prefix,
        ),
    )
    context.update(
        parts=parts,
        legend=legend,
        report=report,
        period_a=report["period_a"],
        period_b=report["period_b"],
        statuses=report["hotspots"],
        incidents_a=count_text(report["period_a"].get("incidents"), context["k"]),
        incidents_b=count_text(report["period_b"].get("incidents"), context["k"]),
        ward_rows=_ward_rows(wards, context["k"]),
        district_word=district_words(b.meta)[0],
        method=method_in_words(a.meta),
    )
    return templates.TemplateResponse(request, "compare.html", context)


@router.get("/app/login", operation_id="app_login_page", response_class=HTMLResponse)
def login_page(
    request: Request,
    next_page: Annotated[str, Query(alias="next", description="Page to open after signing in")] = APP_PREFIX,
) -> HTMLResponse:
    """Sign in with an API key, for browsers (which cannot send the X-API-Key header)."""
    return _login(request, next_page, None, 200)


Csrf = Annotated[
    str | None, Form(alias=CSRF_FIELD, max_length=200, description="The form's CSRF token (see the cookie)")
]
FORGED = "This form was not sent from this site's own page, or it has expired. Please try again."


@router.post("/app/login", operation_id="app_login", response_class=HTMLResponse)
def login(
    request: Request,
    service: Service,
    key: Annotated[str, Form(max_length=200, description="Your API key")],
    next_page: Annotated[
        str, Form(alias="next", max_length=2000, description="Page to open next")
    ] = APP_PREFIX,
    csrf: Csrf = None,
) -> Response:
    """Check the key, keep it in an HttpOnly, SameSite=Strict cookie (used for reads only), go on.

    Only the sign-in page's own form is accepted (403 otherwise): it carries this browser's
    CSRF token, and a page on another site cannot (see :mod:`hotspots.api.csrf`).
    """
    if not form_is_genuine(request, csrf):
        return _login(request, next_page, FORGED, 403)
    record = service.security.verify(key.strip())
    if record is None:
        return _login(request, next_page, "That key is not valid (unknown or revoked).", 401)
    service.security.audit(record.name, record.role, "sign-in", "app", {"via": "browser"})
    response = RedirectResponse(_local(next_page), status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=SESSION_S,
        path="/",
    )
    set_token_cookie(request, response, page_token(request), SESSION_S)  # for the sign-out form
    return response


@router.post("/app/logout", operation_id="app_logout", response_class=HTMLResponse)
def logout(request: Request, csrf: Csrf = None) -> Response:
    """Forget the key kept by this browser (a form without this browser's token asks again)."""
    if not form_is_genuine(request, csrf):
        token = page_token(request)
        context = {
            "title": "Sign out",
            "message": "Sign out of this browser?",
            "error": False,
            "login": False,
            "logout": True,
            "csrf": token,
        }
        page = templates.TemplateResponse(request, "message.html", context, status_code=403)
        set_token_cookie(request, page, token, SESSION_S)
        return page
    response = RedirectResponse(f"{APP_PREFIX}/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/")
    return response


# --- helpers --------------------------------------------------------------------------------------


def _login(request: Request, next_page: str, message: str | None, status: int) -> HTMLResponse:
    """The sign-in page, its form carrying this browser's CSRF token (kept in a cookie too)."""
    token = page_token(request)
    context = {
        "title": "Sign in",
        "message": message,
        "error": message is not None,
        "login": True,
        "next": _local(next_page),
        "csrf": token,
    }
    page = templates.TemplateResponse(request, "message.html", context, status_code=status)
    set_token_cookie(request, page, token, SESSION_S)
    return page


def _local(path: str) -> str:
    """``path`` if it is a page of this app, else the app page (no redirects to other sites)."""
    if path.startswith(APP_PREFIX) and not path.startswith("//") and "\\" not in path:
        return path
    return APP_PREFIX


def _briefing(
    request: Request,
    service: Service,
    query: tuple[str | None, AnalysisParams],
    who: Principal,
    hotspot: int | None,
    borough: str | None,
) -> tuple[str, tuple[Selection, AnalysisParams]]:
    """The briefing's HTML (built once per analysis, subject and links), and what it was built from."""
    if (hotspot is None) == (borough is None):
        raise InvalidInput("name one 'hotspot' (its rank) or one 'borough' to brief on")
    ref, params = query
    params = _default_period(params, _months(service.dataset(ref)))
    # with months hot per hotspot and the set's persistence (twelve monthly fits, cached)
    version, result = service.stability(ref, params, view=who.disclosure)
    links = (_link_query(request, params), _link_query(request, params, drop=("hotspot", "borough")))
    variant = (who.disclosure.identity, hotspot, borough, links, service.interventions.token())
    document = service.rendered(
        "briefing",
        version,
        params,
        variant,
        lambda: _briefing_html(
            service,
            result,
            version,
            who,
            hotspot,
            borough,
            links,
            _area_interventions(service, version, params),
        ),
    )
    return document, (version, params)


def _area_interventions(service: Service, version: Selection, params: AnalysisParams) -> Any:
    """The recorded interventions overlapping the analysis's area (EPSG:27700)."""
    return service.interventions.frame(within=service.area_of(version, params.area).outline)


def _intervention_rows(interventions: Any, focus: Any) -> tuple[list[dict[str, Any]], Any]:
    """The interventions overlapping ``focus`` (EPSG:27700) as briefing rows, and their shapes."""
    here = frame_within(interventions, focus)
    rows = [
        {
            "name": r["name"],
            "type": str(r["type"]).replace("_", " "),
            "partner": r["partner"] or "",
            "months": months_text(str(r["start"]), r["end"] if isinstance(r["end"], str) else None),
            "id": r["id"],
        }
        for r in here.drop(columns="geometry").to_dict("records")
    ]
    return rows, here.geometry


def _briefing_html(
    service: Service,
    result: AnalysisResult,
    version: Selection,
    who: Principal,
    hotspot: int | None,
    borough: str | None,
    links: tuple[str, str],
    interventions: Any = None,
) -> str:
    from hotspots.maps.static_map import focus_png, monthly_png  # matplotlib, as for map.png

    hot = result.hotspots
    meta = result.meta
    when = f"{meta['month_from']} to {meta['month_to']}"
    if hotspot is not None:
        chosen = hot[hot["hotspot_id"].astype(int) == hotspot]
        if chosen.empty:
            raise NotFound(f"there is no hotspot #{hotspot} in this analysis ({len(hot)} hotspots)")
        title = f"Patrol briefing: hotspot #{hotspot}"
        focus = chosen.geometry.iloc[0]
        rows = hotspot_rows(chosen, meta)
        subject = f"Hotspot #{hotspot} of {len(hot)}"
    else:
        assert borough is not None
        known = choices(result.boroughs["borough_name"]) if len(result.boroughs) else []
        if borough not in known:
            word = district_words(meta)[0]
            raise NotFound(f"no {word} called {borough!r} here; choose from {', '.join(known) or 'none'}")
        shown = borough_focus(result, [borough])
        title = f"Patrol briefing: {borough}"
        focus = result.boroughs[result.boroughs["borough_name"].astype(str) == borough].geometry.union_all()
        chosen = shown.hotspots
        rows = hotspot_rows(chosen, meta)
        subject = f"{borough}: {len(rows)} of {len(hot)} hotspots touch the {district_words(meta)[0]}"
    # Interventions overlapping the hotspot or borough: listed, and outlined on the maps.
    iv_rows, iv_shapes = _intervention_rows(interventions, focus) if interventions is not None else ([], None)
    # One hotspot: its street-scale map heads the page. A borough: an overview of the borough
    # (hotspots outlined and numbered, no incident dots), then one page per hotspot, each with
    # its own street-scale map.
    if hotspot is not None:
        snapshot = focus_png(result, focus, highlight=hotspot, interventions=iv_shapes)
    else:
        own = {int(i) for i in chosen["hotspot_id"]}
        snapshot = focus_png(
            result,
            focus,
            size_in=(7.0, 6.2),
            pad_m=300,
            min_width_m=0,
            dots=False,
            numbered=own,
            interventions=iv_shapes,
        )
    cards = []
    records = chosen.sort_values("hotspot_id").to_dict("records")
    for row, record in list(zip(rows, records, strict=True))[:BRIEFING_CARDS]:
        monthly = record.get("monthly_counts")
        missing = record.get("missing_months") or ()
        chart = monthly_png(monthly, missing=missing) if isinstance(monthly, dict) and monthly else None
        street = (
            None
            if hotspot is not None
            else focus_png(result, record["geometry"], highlight=row.rank, interventions=iv_shapes)
        )
        cards.append(
            {
                "row": row,
                "first": record.get("first_month"),
                "last": record.get("last_month"),
                "chart": _data_uri(chart) if chart else None,
                "map": _data_uri(street) if street else None,
                "easting": round(float(record["geometry"].centroid.x)),
                "northing": round(float(record["geometry"].centroid.y)),
            }
        )
    context = {
        "title": title,
        "subject": subject,
        "when": when,
        "dataset": version.ref,
        "method": method_in_words(meta),
        "summary": result_in_words(result),
        "snapshot": _data_uri(snapshot),
        "one_hotspot": hotspot is not None,
        "cards": cards,
        "more": max(0, len(rows) - BRIEFING_CARDS),
        "pdf_link": f"/app/briefing.pdf?{links[0]}",
        "back_link": f"/app?{links[1]}",
        "suppressed": who.disclosure.protected,
        "k": service.settings.disclosure_k,
        "meta": result.meta,
        "interventions": iv_rows,
        "persistence": _persistence_text(result.meta),
        "district_word": district_words(meta)[0],
        **data_credit(version),
    }
    page: str = templates.get_template("briefing.html").render(context)
    return page


def _persistence_text(meta: dict[str, Any]) -> str | None:
    """The share of the previous period's hotspots persisting, e.g. "76%" (``None`` without one)."""
    share = (meta.get("stability") or {}).get("persistence_share")
    return None if share is None else f"{share:.0%}"


def _months(selection: Selection) -> list[str]:
    return choices(m for v in selection.versions for m in v.report.get("months", []))


def _default_period(params: AnalysisParams, months: list[str]) -> AnalysisParams:
    """With no period given, the latest :data:`DEFAULT_MONTHS` months of the data."""
    if params.month_from or params.month_to or not months:
        return params
    return replace(params, month_from=months[max(0, len(months) - DEFAULT_MONTHS)], month_to=months[-1])


def _default_periods(
    months: list[str],
    a_from: str | None,
    a_to: str | None,
    b_from: str | None,
    b_to: str | None,
    month_from: str | None = None,
    month_to: str | None = None,
) -> tuple[str | None, str | None, str | None, str | None]:
    """Unset periods: the app's period (``from``/``to``, when a link from the app carries it) as B
    against as many months before it as A; else the latest 12 months (B) against the 12 before."""
    if any((a_from, a_to, b_from, b_to)) or len(months) < 2:
        return a_from, a_to, b_from, b_to
    if month_from in months and month_to in months and month_from <= month_to:
        first, last = months.index(month_from), months.index(month_to)
        n = last - first + 1
        if first >= n:
            return months[first - n], months[first - 1], month_from, month_to
    n = min(DEFAULT_MONTHS, len(months) // 2)
    return months[-2 * n], months[-n - 1], months[-n], months[-1]


COMPARE_OWN = ("a_from", "a_to", "b_from", "b_to", "tiles", "category", "from", "to")
"""Query parameters the compare form sets itself (the rest are the app's filters, kept)."""


def _form_state(
    ref: str | None,
    params: AnalysisParams,
    boroughs: list[str],
    measure: str,
    breaks: str,
    tiles: str,
    layers: set[str],
) -> dict[str, Any]:
    return {
        "dataset": ref or "",
        "month_from": params.month_from,
        "month_to": params.month_to,
        "categories": list(params.crime_types),
        "boroughs": boroughs,
        "method": params.method,
        "eps_m": "" if params.eps_m is None else f"{params.eps_m:g}",
        "min_samples": "" if params.min_samples is None else str(params.min_samples),
        "min_cluster_size": "" if params.min_cluster_size is None else str(params.min_cluster_size),
        "weight": params.weight,
        "sources": list(params.sources),
        "measure": measure,
        "breaks": breaks,
        "tiles": tiles,
        "layers": layers,
    }


EXPORT_PARAMS = (
    "dataset", "from", "to", "category", "eps_m", "min_samples", "boundaries", "buffer_m",
    "weight", "method", "min_cluster_size", "source", "cell_size_m",
)  # fmt: skip


def _link_query(
    request: Request,
    params: AnalysisParams,
    drop: tuple[str, ...] = (),
    keep: tuple[str, ...] | None = None,
    ref: str | None = None,
) -> str:
    """The page's query string with the period and dataset actually analysed, for links to the
    same analysis (without the script's view parameters).

    ``drop`` removes parameters; ``keep`` (when given) keeps only those named.
    """
    items = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in drop
        and k not in ("from", "to", *VIEW_PARAMS)
        and (keep is None or k in keep)
        and not (k == "dataset" and ref)
    ]
    period = [("dataset", ref), ("from", params.month_from), ("to", params.month_to)]
    return urlencode([(k, v) for k, v in period if v] + items)


def _ward_rows(wards: Any, k: int) -> list[dict[str, Any]]:
    """Wards by change, their counts and change as text (``1,234``, ``+1,234``, ``fewer than k``)."""
    frame = wards.sort_values("change", ascending=False, na_position="last")
    rows = []
    for record in frame.to_dict("records"):
        change = num(record.get("change"))
        rows.append(
            {
                **record,
                "a_text": count_text(record.get("count_a"), k),
                "b_text": count_text(record.get("count_b"), k),
                "change_text": "n/a" if change is None else f"{change:+,.0f}",
            }
        )
    return rows


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _slug(text: str) -> str:
    return "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-") or "area"
