"""The app table's stability column, loaded after the page (``/app/stability``).

Stability takes twelve single-month DBSCAN fits and one of the previous period
(:func:`hotspots.service.HotspotService.stability`, cached per analysis): about 4 s
uncached on the shipped 2022 data, longer than the page itself. So the app page
opens at once with the column pending and its script fills it in from this
route, with the page's own analysis query (the same hotspots, the same ranks).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hotspots.api.auth import Viewer
from hotspots.api.deps import AnalysisQuery, Service
from hotspots.api.routes.app_page import _default_period, _months, app_default
from hotspots.geo.stats.stability import stability_note
from hotspots.maps.panel import months_hot_text

router = APIRouter(tags=["app"])


@router.get("/app/stability", operation_id="app_stability")
def app_stability(service: Service, query: AnalysisQuery, who: Viewer) -> dict[str, Any]:
    """Per hotspot rank its months hot as the table shows them ("9 of 12"), and the set's
    persistence in a sentence (``note``), for the analysis the app page with this query shows."""
    ref, params = query
    if ref is None:
        ref = app_default(service)
    params = _default_period(params, _months(service.dataset(ref)))
    version, result = service.stability(ref, params, view=who.disclosure)
    hot = result.hotspots
    cells = {
        str(int(i)): months_hot_text(h, c)
        for i, h, c in zip(hot["hotspot_id"], hot["months_hot"], hot["months_checked"], strict=True)
    }
    share = result.meta["stability"].get("persistence_share")
    return {
        "dataset": version.ref,
        "months_hot": cells,
        "persistence_share": share,
        "note": stability_note(result.meta),
    }
