"""How good are the hotspots? The fit-then-test evaluation as a page of the app (``/app/evaluation``).

It takes the app's filters (the same query string), holds the last month of the period out,
finds the hotspots the same way on the months before it, and reports hit rate, PAI, PEI and RRI
beside simple baselines at the same area, in sentences a partnership board reads (see
:mod:`hotspots.maps.evaluation_words`). Viewers and councils get it from disclosure-protected
counts, as everywhere else (the service decides).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hotspots.api.auth import Viewer
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.api.errors import status_for
from hotspots.api.routes.app_page import _default_period, _months, data_credit
from hotspots.api.templating import templates
from hotspots.errors import HotspotError
from hotspots.maps.evaluation_words import evaluation_in_words, month_name
from hotspots.maps.panel import method_in_words

router = APIRouter(tags=["app"])


@router.get("/app/evaluation", operation_id="app_evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, service: Service, query: AnalysisQuery, who: Viewer) -> HTMLResponse:
    """The hotspots tested on the period's last month (held out), beside baselines, in words."""
    ref, params = query
    selection = service.dataset(ref)
    params = _default_period(params, _months(selection))
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("from", "to")]
    period = [(k, v) for k, v in (("from", params.month_from), ("to", params.month_to)) if v]
    context: dict[str, Any] = {
        "dataset": selection.ref,
        **data_credit(selection),
        "back_link": "/app?" + urlencode(period + items),
        "period": f"{month_name(params.month_from or '')} to {month_name(params.month_to or '')}",
        "crime_types": ", ".join(params.crime_types) or "all crime types",
        "error": None,
        "words": None,
    }
    try:
        _, report = service.evaluate(ref, params, test_month=None, n_tests=1, view=who.disclosure)
        words = evaluation_in_words(
            report, service.settings.disclosure_k if who.disclosure.protected else None
        )
    except HotspotError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "evaluation.html", context, status_code=status_for(exc))
    fitted: dict[str, dict[str, Any]] = report.get("parameters_by_fit_period_end") or {}
    rule: dict[str, Any] = next(iter(fitted.values()), {})
    meta = {
        **rule,
        "method": params.method,
        "weight": params.weight,
        "min_cluster_size": params.min_cluster_size,
    }
    method = method_in_words(meta) if rule else ""
    context.update(
        words=words,
        method="" if "n/a" in method else method,  # a protected view may not see the threshold
        suppressed=who.disclosure.protected,
        k=service.settings.disclosure_k,
        curve_link="/evaluate/curve.png?" + urlencode(items + period),
    )
    return templates.TemplateResponse(request, "evaluation.html", context)
