"""JavaScript and CSS for the map pages, taken only from installed packages.

The app serves each directory in :data:`ASSET_DIRS` as static files under
``{static_prefix}/{name}/``; a page saved as a file instead gets the same files
inlined by :func:`inline_assets`, so it opens from disk with no network. No
asset is ever fetched from a CDN and none is copied into this repository.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from functools import cache
from pathlib import Path, PurePosixPath

import xstatic.pkg.leaflet as xstatic_leaflet

from hotspots.errors import HotspotError

ASSET_DIRS: dict[str, Path] = {"leaflet": Path(xstatic_leaflet.BASE_DIR)}
"""Static asset directories by URL name: mount ``ASSET_DIRS[name]`` at ``{prefix}/{name}``."""

LEAFLET_VERSION: str = str(xstatic_leaflet.VERSION)
LEAFLET_JS = "leaflet/leaflet.js"
LEAFLET_CSS = "leaflet/leaflet.css"

_SOURCE_MAP = re.compile(r"^[ \t]*(?://[#@]|/\*[#@])\s*sourceMappingURL=[^\n]*$", re.MULTILINE)
_CSS_URL = re.compile(r"""url\(\s*(?P<q>['"]?)(?P<url>[^'")]+)(?P=q)\s*\)""")


class AssetNotFound(HotspotError):
    """A page links an asset under the static prefix that no installed package provides."""


def asset_url(static_prefix: str, relative: str) -> str:
    """The URL of an asset under ``static_prefix``, e.g. ``/static/leaflet/leaflet.js``.

    Parameters
    ----------
    static_prefix:
        Where the app mounts :data:`ASSET_DIRS` (``"/static"``, ``""`` for the root,
        or an absolute URL when the app is served behind a proxy).
    relative:
        ``"{name}/{path inside the package directory}"``.
    """
    return f"{static_prefix.rstrip('/')}/{relative.lstrip('/')}"


def asset_path(relative: str) -> Path:
    """The file behind ``"{name}/{path}"``, refusing paths that leave the package directory.

    Raises
    ------
    AssetNotFound
        For an unknown package name, a path outside its directory or a missing file.
    """
    parts = PurePosixPath(relative.split("?", 1)[0].split("#", 1)[0]).parts
    if len(parts) < 2 or parts[0] not in ASSET_DIRS:
        raise AssetNotFound(f"no installed asset package provides {relative!r}")
    base = ASSET_DIRS[parts[0]].resolve()
    path = base.joinpath(*parts[1:]).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise AssetNotFound(f"asset {relative!r} is not a file of the installed package")
    return path


def inline_assets(html: str, static_prefix: str) -> str:
    """Replace links to assets under ``static_prefix`` with their content.

    ``<script src="{prefix}/...">`` becomes an inline ``<script>``, and
    ``<link ... href="{prefix}/....css">`` an inline ``<style>`` whose relative
    ``url(...)`` references (Leaflet's control images) are rewritten to
    ``data:`` URIs. Source-map comments are dropped. The result needs no
    network and no server.

    Parameters
    ----------
    html:
        A page rendered with asset links under ``static_prefix``.
    static_prefix:
        The prefix the page was rendered with (:attr:`MapOptions.static_prefix`).

    Returns
    -------
    str
        The page with every such link inlined; other tags are left as they are.

    Raises
    ------
    AssetNotFound
        If a linked asset under the prefix does not exist in an installed package.
    """
    prefix = re.escape(static_prefix.rstrip("/") + "/")
    script = re.compile(
        r"<script\b[^>]*?\bsrc=(?P<q>[\"'])" + prefix + r"(?P<rel>[^\"']+)(?P=q)[^>]*>\s*</script\s*>",
        re.IGNORECASE,
    )
    link = re.compile(
        r"<link\b[^>]*?\bhref=(?P<q>[\"'])" + prefix + r"(?P<rel>[^\"']+\.css)(?P=q)[^>]*>", re.IGNORECASE
    )
    html = script.sub(lambda m: f"<script>{_inline_js(m.group('rel'))}</script>", html)
    return link.sub(lambda m: f"<style>{_inline_css(m.group('rel'))}</style>", html)


@cache
def _inline_js(relative: str) -> str:
    text = asset_path(relative).read_text(encoding="utf-8")
    text = _SOURCE_MAP.sub("", text)
    # An inline script ends at the first "</script"; "<\/" is the same string in JavaScript.
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


@cache
def _inline_css(relative: str) -> str:
    path = asset_path(relative)
    folder = PurePosixPath(relative).parent
    text = _SOURCE_MAP.sub("", path.read_text(encoding="utf-8"))

    def to_data_uri(match: re.Match[str]) -> str:
        url = match.group("url").strip()
        if url.startswith(("data:", "#")) or re.match(r"^[a-z][a-z0-9+.-]*:|^//|^/", url, re.IGNORECASE):
            return match.group(0)
        target = asset_path(str(folder / url))
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        encoded = base64.b64encode(target.read_bytes()).decode("ascii")
        return f'url("data:{mime};base64,{encoded}")'

    text = _CSS_URL.sub(to_data_uri, text)
    return re.sub(r"</(style)", r"\\3C/\1", text, flags=re.IGNORECASE)
