"""The API documentation page (Swagger UI at ``/docs``), served offline.

FastAPI's own page loads Swagger UI from a CDN, so it is blank on a council network that blocks
CDNs or on a machine with no network. This page loads the same JavaScript and CSS from the
installed ``fastapi-offline`` package, mounted by :func:`hotspots.api.app.create_app` under
``{static_prefix}/docs/``, like Leaflet: it requests nothing from any other host (the online
spec validator is switched off too). ReDoc is not offered: its page fetches its logo from
redoc.ly whatever it is given; Swagger UI shows the same OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
"""Swagger UI's ``swagger-ui-bundle.js`` and ``swagger-ui.css``, and a favicon."""
DOCS_ASSET_NAME = "docs"  # mounted at {static_prefix}/docs
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _assets(request: Request) -> str:
    root = request.scope.get("root_path", "")
    return f"{root}{request.app.state.static_prefix}/{DOCS_ASSET_NAME}"


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, its assets from our own static path."""
    assets = _assets(request)
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title}: API documentation",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
    )


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (part of Swagger UI; no assets)."""
    return get_swagger_ui_oauth2_redirect_html()
