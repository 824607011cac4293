"""Browser-facing defences: CSRF on sign-in and sign-out, security headers, audit of rejected uploads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.api.auth import KEY_COOKIE
from hotspots.api.csrf import CSRF_COOKIE
from hotspots.api.headers import content_security_policy, tile_sources
from hotspots.geo.inputs.ingest import Source
from hotspots.settings import Settings

YEAR = {"from": "2020-01", "to": "2020-12"}


@pytest.fixture(scope="module")
def app_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("websec") / "var",
        tiles="none",
        auth_required=True,
        max_upload_mb=0.05,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        security = client.app.state.service.security  # type: ignore[attr-defined]
        keys = {role: security.create_key(f"web-{role}", role)[1] for role in ("viewer", "admin")}
        keys["attacker"] = security.create_key("web-attacker", "viewer")[1]
        yield client, keys


def _token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _sign_in(client: TestClient, key: str) -> None:
    form = client.get("/app/login")
    r = client.post(
        "/app/login",
        data={"key": key, "next": "/app", "csrf": _token(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


# --- CSRF ------------------------------------------------------------------------------------------


def test_sign_in_form_carries_a_token_and_works(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    client.cookies.clear()
    form = client.get("/app/login")
    token = _token(form.text)
    cookie = form.headers["set-cookie"]
    assert f"{CSRF_COOKIE}={token}" in cookie and "samesite=strict" in cookie.lower()
    assert client.get("/app/login").text.count(token) == 1  # the same browser keeps its token
    r = client.post(
        "/app/login",
        data={"key": keys["viewer"], "next": "/app", "csrf": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and client.cookies.get(KEY_COOKIE) == keys["viewer"]
    client.cookies.clear()


@pytest.mark.parametrize(
    ("headers", "with_token"),
    [
        ({"Origin": "https://evil.example"}, True),
        ({"Origin": "null"}, True),
        ({"Referer": "https://evil.example/page"}, True),
        ({}, False),
        ({"Origin": "http://testserver"}, False),
    ],
)
def test_forged_sign_in_is_refused_and_keeps_the_cookie(
    app_keys: tuple[TestClient, dict[str, str]], headers: dict[str, str], with_token: bool
) -> None:
    """A page on another site cannot swap a signed-in admin's key for the attacker's."""
    client, keys = app_keys
    client.cookies.clear()
    _sign_in(client, keys["admin"])
    token = client.cookies.get(CSRF_COOKIE)
    data = {"key": keys["attacker"], "next": "/app"}
    if with_token:
        data["csrf"] = str(token)
    r = client.post("/app/login", data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert KEY_COOKIE not in r.headers.get("set-cookie", "")
    assert client.cookies.get(KEY_COOKIE) == keys["admin"]
    client.cookies.clear()


def test_a_proxys_forwarded_host_counts_as_this_site(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    client.cookies.clear()
    token = _token(client.get("/app/login").text)
    r = client.post(
        "/app/login",
        data={"key": keys["viewer"], "csrf": token},
        headers={"Origin": "https://hotspots.example.gov.uk", "X-Forwarded-Host": "hotspots.example.gov.uk"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.cookies.clear()


def test_a_token_must_match_the_browsers_cookie(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    client.cookies.clear()
    mine = _token(client.get("/app/login").text)
    forged = [mine + "0", mine.split(".")[0] + ".deadbeef", "", "x" * 300]
    for other in forged:
        r = client.post("/app/login", data={"key": keys["viewer"], "csrf": other}, follow_redirects=False)
        assert r.status_code in (403, 422), other
        assert KEY_COOKIE not in client.cookies
    # A well-signed token that is not this browser's cookie is refused too.
    client.cookies.set(CSRF_COOKIE, _token(TestClient(client.app).get("/app/login").text), path="/app")
    r = client.post("/app/login", data={"key": keys["viewer"], "csrf": mine}, follow_redirects=False)
    assert r.status_code == 403 and KEY_COOKIE not in client.cookies
    client.cookies.clear()


def test_sign_out_needs_the_token(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    client.cookies.clear()
    _sign_in(client, keys["viewer"])
    page = client.get("/app", params=YEAR).text
    assert 'action="/app/logout"' in page and "data-hs-csrf" in page  # the page's script fills it
    forged = client.post("/app/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert forged.status_code == 403 and KEY_COOKIE not in forged.headers.get("set-cookie", "")
    assert client.cookies.get(KEY_COOKIE) == keys["viewer"]
    # Without the token (no script), the answer is a page that asks again, with a token.
    again = client.post("/app/logout", follow_redirects=False)
    assert again.status_code == 403 and 'action="/app/logout"' in again.text
    r = client.post("/app/logout", data={"csrf": _token(again.text)}, follow_redirects=False)
    assert r.status_code == 303 and KEY_COOKIE not in client.cookies
    client.cookies.clear()


# --- security headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/app/login",
        "/app?from=2020-01&to=2020-12",
        "/hotspots?dataset=bd-2023-01",
        "/openapi.json",
        "/static/app/app.css",
        "/no-such-page",
        "/docs",
    ],
)
def test_security_headers_on_every_response(app_keys: tuple[TestClient, dict[str, str]], path: str) -> None:
    client, keys = app_keys
    r = client.get(path, headers={"X-API-Key": keys["viewer"]})
    assert r.status_code in (200, 404), (path, r.status_code)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    csp = _policy(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["form-action"] == ["'self'"]
    assert "http" not in r.headers["content-security-policy"], "no page may load from another host"
    assert csp["script-src"] == ["'self'", "'unsafe-inline'"]  # the API docs included: no CDN
    assert csp["img-src"] == ["'self'", "data:"]  # tiles are off in this app


def test_api_docs_load_their_assets_from_our_server(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app_keys
    page = client.get("/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page) + re.findall(r"url: ?'([^']+)'", page)
    assert urls and all(u.startswith(("/static/docs/", "/openapi.json")) for u in urls), urls
    assert "https://" not in page and '"validatorUrl": null' in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        r = client.get(f"/static/docs/{asset}")
        assert r.status_code == 200 and len(r.content) > 1000, asset
    assert client.get("/redoc").status_code == 404  # ReDoc would fetch its logo from redoc.ly


def test_the_policy_allows_the_configured_tiles() -> None:
    assert tile_sources("none") == ()
    assert "https://*.tile.openstreetmap.org" in tile_sources("openstreetmap")
    assert tile_sources("https://{s}.tiles.example.gov.uk/{z}/{x}/{y}.png") == (
        "https://*.tiles.example.gov.uk",
    )
    assert tile_sources("http://maps.council.gov.uk:8080/wmts/{z}/{x}/{y}.png") == (
        "http://maps.council.gov.uk:8080",
    )
    osm = _policy(content_security_policy("openstreetmap"))
    assert osm["img-src"] == [
        "'self'",
        "data:",
        "https://tile.openstreetmap.org",
        "https://*.tile.openstreetmap.org",
    ]


def test_tile_host_is_in_the_served_policy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", tiles="https://tiles.example.gov.uk/{z}/{x}/{y}.png")
    with TestClient(create_app(settings)) as c:
        csp = _policy(c.get("/healthz").headers["content-security-policy"])
    assert csp["img-src"] == ["'self'", "data:", "https://tiles.example.gov.uk"]


def _policy(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


# --- audit of rejected uploads -----------------------------------------------------------------------


def _rejections(client: TestClient, admin: str) -> list[dict[str, Any]]:
    log = client.get("/audit", headers={"X-API-Key": admin}).json()
    return [e for e in log if e["action"].endswith("rejected")]


def _upload(client: TestClient, admin: str, data: dict[str, str], files: Any, status: int) -> dict[str, Any]:
    before = len(_rejections(client, admin))
    r = client.post("/datasets", data=data, files=files, headers={"X-API-Key": admin})
    assert r.status_code == status, r.text
    after = _rejections(client, admin)
    assert len(after) == before + 1, "one audit entry per rejected upload"
    entry = after[0]
    assert entry["actor"] == "web-admin" and entry["role"] == "admin"
    assert entry["action"] == "upload rejected" and entry["detail"]["status"] == status
    return entry


SMALL_CSV = b"Crime ID,Month,Longitude,Latitude,Crime type\n1,2023-01,0.13,51.54,Robbery\n"


def test_rejected_uploads_are_audited(app_keys: tuple[TestClient, dict[str, str]], bd_source: Source) -> None:
    client, keys = app_keys
    admin = keys["admin"]
    big = _upload(client, admin, {"name": "too-big"}, {"files": ("big.csv", bd_source.data, "text/csv")}, 413)
    assert big["target"] == "too-big" and "larger than the limit" in big["detail"]["reason"]
    assert big["detail"]["files"] == ["big.csv"]
    badname = _upload(client, admin, {"name": "dots"}, {"files": ("..", SMALL_CSV, "text/csv")}, 422)
    assert "needs a name" in badname["detail"]["reason"]
    retention = _upload(
        client,
        admin,
        {"name": "kept", "retention_until": "next spring"},
        {"files": ("a.csv", SMALL_CSV, "text/csv")},
        422,
    )
    assert "retention_until" in retention["detail"]["reason"]
    missing = _upload(client, admin, {}, {"files": ("a.csv", SMALL_CSV, "text/csv")}, 422)
    assert "name" in missing["detail"]["reason"] and missing["target"] == "/datasets"
    invalid = _upload(
        client,
        admin,
        {"name": "junk"},
        {"files": ("junk.csv", b"just,some\ncolumns,here\n", "text/csv")},
        422,
    )
    assert invalid["target"] == "junk"


def test_a_failing_upload_is_audited_as_a_500(
    app_keys: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, keys = app_keys
    service = client.app.state.service  # type: ignore[attr-defined]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "ingest", broken)
    entry = _upload(client, keys["admin"], {"name": "boom"}, {"files": ("a.csv", SMALL_CSV, "text/csv")}, 500)
    assert entry["target"] == "boom" and "RuntimeError" in entry["detail"]["reason"]
    r = client.post(
        "/datasets",
        data={"name": "boom"},
        files={"files": ("a.csv", SMALL_CSV, "text/csv")},
        headers={"X-API-Key": keys["admin"]},
    )
    assert r.status_code == 500 and "disk on fire" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"  # the security headers, even on a 500
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_rejected_boundary_uploads_are_audited(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    r = client.post(
        "/boundaries",
        data={"name": "wonky"},
        files={"file": ("wards.geojson", b"{not json", "application/geo+json")},
        headers={"X-API-Key": keys["admin"]},
    )
    assert 400 <= r.status_code < 500
    entry = _rejections(client, keys["admin"])[0]
    assert entry["action"] == "boundary upload rejected" and entry["target"] == "wonky"
    assert entry["detail"]["status"] == r.status_code


def test_unidentified_callers_are_not_logged(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = app_keys
    before = len(_rejections(client, keys["admin"]))
    files = {"files": ("a.csv", SMALL_CSV, "text/csv")}
    assert client.post("/datasets", data={"name": "x"}, files=files).status_code == 401
    viewer = client.post("/datasets", data={"name": "x"}, files=files, headers={"X-API-Key": keys["viewer"]})
    assert viewer.status_code == 403
    after = _rejections(client, keys["admin"])
    assert len(after) == before + 1 and after[0]["actor"] == "web-viewer"  # a known key is logged
