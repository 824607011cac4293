"""The Jinja templates of the app pages (``hotspots/api/templates``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")

APP_PREFIX = "/app"
"""Pages for people (HTML): their errors are pages too, and a missing key sends them to sign in."""


def _register_globals() -> None:
    from hotspots.maps.notes import analysis_notes

    templates.env.globals["analysis_notes"] = analysis_notes


_register_globals()
