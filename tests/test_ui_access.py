"""Who gets into the dashboard: sign-in sessions, their cookie, CSRF tokens, each page's roles."""

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.ui.session import COOKIE, UiSession, signer_for
from service.settings import Settings
from storage.types import utcnow
from testing.images import jpeg
from tests.api_client import Api, SettledClient, auth
from tests.ui_client import csrf_of, sign_in

UI_ROUTES = {
    # (method, path as registered): who gets the page; everyone else signed in gets 403, and
    # a browser with no session is sent to sign in.
    ("GET", "/ui"): {"marketing", "security", "admin"},
    ("GET", "/ui/leaks"): {"security", "admin"},
    ("GET", "/ui/leaks/{leak_id}"): {"security", "admin"},
    ("POST", "/ui/leaks/{leak_id}"): {"security", "admin"},
    ("GET", "/ui/sources"): {"security", "admin"},
    ("GET", "/ui/assets"): {"marketing", "security", "admin"},
    ("GET", "/ui/assets/{asset_id}/thumbnail.jpg"): {"marketing", "security", "admin"},
    ("GET", "/ui/sightings/{sighting_id}/thumbnail.jpg"): {"security", "admin"},
}
# Open to anyone: the sign-in form, signing in and out, and the stylesheet and script.
PUBLIC_UI_ROUTES = {("GET", "/ui/login"), ("POST", "/ui/login"), ("POST", "/ui/logout")}


def test_every_ui_route_is_in_the_ui_role_table(client: TestClient) -> None:
    registered: set[tuple[str, str]] = set()
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = route.path or ""
        if path.startswith("/ui"):
            methods = route.methods or {type(route.original_route).__name__}
            registered |= {(m, path) for m in methods if m != "HEAD"}
    assert registered == set(UI_ROUTES) | PUBLIC_UI_ROUTES | {("Mount", "/ui/static")}


@pytest.mark.parametrize("caller", ["nobody", "marketing", "security", "admin"])
def test_ui_pages_by_role(client: TestClient, api: Api, caller: str) -> None:
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    ids = {
        "leak_id": leak["id"],
        "asset_id": asset["id"],
        "sighting_id": api.leak(leak["id"])["sightings"][0]["id"],
    }
    keys = {"marketing": api.marketing, "security": api.security, "admin": api.admin}
    if caller != "nobody":
        assert sign_in(client, keys[caller]).status_code == 303
    token = csrf_of(client.get("/ui/login").text) if caller == "nobody" else None
    for (method, path), allowed in UI_ROUTES.items():
        url = path.format(**ids)
        if method == "POST":
            token = token or csrf_of(client.get("/ui/assets").text)
            form = {"csrf_token": token, "note": f"checked by {caller}"}
            response = client.post(url, data=form, follow_redirects=False)
        else:
            response = client.get(url, follow_redirects=False)
        if caller == "nobody":
            assert response.status_code == 303, (path, response.text)
            assert response.headers["location"] == "/ui/login"
        elif caller in allowed:
            assert response.status_code in (200, 303), (path, response.text)
        else:
            assert response.status_code == 403, (path, response.text)
            assert "text/html" in response.headers["content-type"]
    notes = [h["note"] for h in api.leak(leak["id"])["history"] if h["note"]]
    assert notes == ([f"checked by {caller}"] if caller in ("security", "admin") else [])


def test_the_session_cookie_is_httponly_strict_and_holds_no_key(
    settings: Settings, api: Api, clock: Any
) -> None:
    from api.app import create_app

    with SettledClient(create_app(settings, clock=clock), base_url="https://testserver") as client:
        response = sign_in(client, api.security)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/leaks"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/ui"):
            assert flag.lower() in cookie.lower(), cookie
        assert api.security not in cookie
        assert client.get("/ui/leaks").status_code == 200


def test_sessions_expire_and_one_secret_serves_every_process(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    first, second = signer_for(settings, utcnow), signer_for(settings, utcnow)  # two processes
    key_id = uuid4()
    session = first.new(key_id)
    assert second.load(first.dump(session)) == session
    assert second.csrf_token(session) == first.csrf_token(session)
    assert (tmp_path / "data" / "ui-session.key").stat().st_mode & 0o777 == 0o600

    stale = UiSession(
        key_id, session.nonce, session.issued_at - settings.ui_session_hours * 3600 - 1
    )
    assert first.load(first.dump(stale)) is None
    other = Settings(_env_file=None, data_dir=tmp_path / "other")  # type: ignore[call-arg]
    assert signer_for(other, utcnow).load(first.dump(session)) is None
    assert not first.csrf_ok(session, "é")  # not ASCII: refused, not an error


def test_over_plain_http_the_cookie_is_not_secure(client: TestClient, api: Api) -> None:
    cookie = sign_in(client, api.security).headers["set-cookie"]
    assert "secure" not in cookie.lower()


def test_a_tampered_or_missing_session_goes_to_sign_in(client: TestClient, api: Api) -> None:
    sign_in(client, api.security)
    value = client.cookies[COOKIE]
    payload, mac = value.split(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, payload + "." + mac[::-1])
    response = client.get("/ui/leaks", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    client.cookies.clear()
    assert client.get("/ui/leaks", follow_redirects=False).headers["location"] == "/ui/login"


def test_revoking_the_key_ends_its_sessions(client: TestClient, api: Api) -> None:
    created = client.post(
        "/v1/keys", json={"name": "temp", "role": "security"}, headers=auth(api.admin)
    )
    sign_in(client, created.json()["key"])
    assert client.get("/ui/leaks").status_code == 200
    revoked = client.delete(f"/v1/keys/{created.json()['id']}", headers=auth(api.admin))
    assert revoked.status_code == 204
    assert client.get("/ui/leaks", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_so_a_copied_cookie_stops_working(
    client: TestClient, api: Api
) -> None:
    sign_in(client, api.security)
    copied = client.cookies[COOKIE]
    token = csrf_of(client.get("/ui/leaks").text)
    signed_out = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303

    client.cookies.clear()
    client.cookies.set(COOKIE, copied)  # as an attacker who copied it earlier would
    response = client.get("/ui/leaks", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    # Signing in again starts a new session, which works.
    client.cookies.clear()
    sign_in(client, api.security)
    assert client.get("/ui/leaks").status_code == 200


def test_a_post_with_another_sessions_token_is_refused(client: TestClient, api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    stale = csrf_of(client.get("/ui/login").text)  # the token of the signed-out session
    sign_in(client, api.security)
    response = client.post(
        f"/ui/leaks/{leak['id']}", data={"status": "confirmed", "csrf_token": stale}
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert api.leak(leak["id"])["status"] == "open"
