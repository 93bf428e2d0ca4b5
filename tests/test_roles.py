"""The role matrix: every route the app serves, called by every kind of caller.

No key, an unknown key or a revoked key gets 401; a key whose role may not call the route gets
403 and changes nothing; a role that may call it gets the route's success status. Health checks
need no key at all. A route added to the app without a row here fails
`test_matrix_covers_every_route_of_the_app`.

The matrix shares one database and app per back end (`shared_api`): each case makes the objects
it calls and uploads pictures no other case uploads, so no case sees another's doing."""

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from testing.images import jpeg, unused_seed
from tests.api_client import Api, auth

PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail"}

NO_KEY = "no-key"
UNKNOWN_KEY = "unknown-key"
REVOKED_KEY = "revoked-key"
ADMIN, MARKETING, CRAWLER, SECURITY = "admin", "marketing", "crawler", "security"
UNAUTHENTICATED = (NO_KEY, UNKNOWN_KEY, REVOKED_KEY)
ROLES = (ADMIN, MARKETING, CRAWLER, SECURITY)
CALLERS = (*UNAUTHENTICATED, *ROLES)

# Routes FastAPI adds for its own documentation; they carry no data and need no row.
DOCS_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# The dashboard's pages sign in with a session cookie, not a bearer key, and answer a browser
# with a redirect to sign-in or an HTML page rather than 401/403 problem details: this matrix
# cannot call them. tests/test_ui_access.py and tests/test_ui_browser.py cover who may see which page.
UI_PREFIX = "/ui"

# A pdq (256 bit) and a phash (64 bit) fingerprint far from anything the tests upload.
PDQ_HEX = "0f" * 32
PHASH_HEX = "a5" * 8


def fresh_image() -> bytes:
    """A picture no other call in this process uploads."""
    return jpeg(unused_seed())


class Targets:
    """Existing objects for the routes that take an id, made on demand: every call with an id
    targets something real."""

    def __init__(self, api: Api) -> None:
        self.api = api

    @cached_property
    def key_id(self) -> str:
        created = self.api.client.post(
            "/v1/keys", json={"name": "victim", "role": "crawler"}, headers=auth(self.api.admin)
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    @cached_property
    def _asset(self) -> tuple[str, bytes]:
        picture = fresh_image()
        return str(self.api.asset(picture)["id"]), picture

    @cached_property
    def asset_id(self) -> str:
        return self._asset[0]

    @cached_property
    def domain(self) -> str:
        return "news.example.com"

    @cached_property
    def leak_id(self) -> str:
        asset_id, picture = self._asset
        self.api.sighting(picture, page_url=f"https://news.example.com/{asset_id}")
        [leak] = self.api.leaks(asset_id=asset_id)
        return str(leak["id"])

    @cached_property
    def webhook_id(self) -> str:
        created = self.api.client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/target", "events": ["leak.opened"]},
            headers=auth(self.api.admin),
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def url(self, path: str) -> str:
        """`path` with each `{placeholder}` filled in by the object it names."""
        names = re.findall(r"{(\w+)}", path)
        return path.format(**{name: getattr(self, name) for name in names})


Call = Callable[[Api, str, dict[str, str]], httpx.Response]


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str  # as the app registers it, placeholders included
    allowed: frozenset[str] | None  # roles that may call it; None: no key needed
    success: int
    call: Call

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _create_key(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.post(url, json={"name": "new-key", "role": "crawler"}, headers=headers)


def _get(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.get(url, headers=headers)


def _delete(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.delete(url, headers=headers)


def _register_asset(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.post(
        url,
        files={"file": ("asset.jpg", fresh_image(), "image/jpeg")},
        data={
            "name": "Rear view",
            "product": "SU7",
            "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
        },
        headers=headers,
    )


def _register_fingerprints(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    body = {
        "name": "Spec sheet",
        "product": "SU7",
        "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
        "fingerprints": [
            {"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX},
            {"algorithm": "phash", "variant": "original", "hex": PHASH_HEX},
        ],
    }
    return api.client.post(url, json=body, headers=headers)


def _patch_asset(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    embargo = (api.clock() + timedelta(days=60)).isoformat()
    return api.client.patch(url, json={"embargo_until": embargo}, headers=headers)


def _post_sighting(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.post(
        url,
        files={"file": ("found.jpg", fresh_image(), "image/jpeg")},
        data={"page_url": "https://news.example.com/another"},
        headers=headers,
    )


def _post_batch(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    manifest = [{"filename": "a.jpg", "page_url": "https://news.example.com/batch"}]
    return api.client.post(
        url,
        files={"files": ("a.jpg", fresh_image(), "image/jpeg")},
        data={"manifest": json.dumps(manifest)},
        headers=headers,
    )


def _post_fingerprints(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    item = {
        "page_url": "https://news.example.com/hashed",
        "fingerprints": [
            {"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX},
            {"algorithm": "phash", "variant": "original", "hex": PHASH_HEX},
        ],
    }
    return api.client.post(url, json={"items": [item]}, headers=headers)


def _patch_leak(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    return api.client.patch(
        url, json={"status": "confirmed", "assignee": "alice", "note": "checked"}, headers=headers
    )


def _create_webhook(api: Api, url: str, headers: dict[str, str]) -> httpx.Response:
    body = {"url": "https://hooks.example.com/new", "events": ["leak.opened", "leak.updated"]}
    return api.client.post(url, json=body, headers=headers)


ADMIN_ONLY = frozenset({ADMIN})
ASSET_WRITERS = frozenset({MARKETING, ADMIN})
ASSET_READERS = frozenset({MARKETING, SECURITY, ADMIN})
SIGHTING_WRITERS = frozenset({CRAWLER, ADMIN})
LEAK_WORKERS = frozenset({SECURITY, ADMIN})

MATRIX = [
    RouteCase("POST", "/v1/keys", ADMIN_ONLY, 201, _create_key),
    RouteCase("GET", "/v1/keys", ADMIN_ONLY, 200, _get),
    RouteCase("DELETE", "/v1/keys/{key_id}", ADMIN_ONLY, 204, _delete),
    RouteCase("POST", "/v1/assets", ASSET_WRITERS, 201, _register_asset),
    RouteCase("POST", "/v1/assets/fingerprints", ASSET_WRITERS, 201, _register_fingerprints),
    RouteCase("GET", "/v1/assets", ASSET_READERS, 200, _get),
    RouteCase("GET", "/v1/assets/{asset_id}", ASSET_READERS, 200, _get),
    RouteCase("PATCH", "/v1/assets/{asset_id}", ASSET_WRITERS, 200, _patch_asset),
    RouteCase("POST", "/v1/sightings", SIGHTING_WRITERS, 201, _post_sighting),
    RouteCase("POST", "/v1/sightings/batch", SIGHTING_WRITERS, 200, _post_batch),
    RouteCase("POST", "/v1/sightings/fingerprints", SIGHTING_WRITERS, 200, _post_fingerprints),
    RouteCase("GET", "/v1/leaks", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/v1/leaks/{leak_id}", LEAK_WORKERS, 200, _get),
    RouteCase("PATCH", "/v1/leaks/{leak_id}", LEAK_WORKERS, 200, _patch_leak),
    RouteCase("GET", "/v1/leaks/{leak_id}/sightings", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/v1/leaks/{leak_id}/evidence", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/v1/sources", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/v1/sources/{domain}", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/v1/audit", ADMIN_ONLY, 200, _get),
    RouteCase("POST", "/v1/webhooks", LEAK_WORKERS, 201, _create_webhook),
    RouteCase("GET", "/v1/webhooks", LEAK_WORKERS, 200, _get),
    RouteCase("DELETE", "/v1/webhooks/{webhook_id}", LEAK_WORKERS, 204, _delete),
    RouteCase("GET", "/v1/webhooks/{webhook_id}/deliveries", LEAK_WORKERS, 200, _get),
    RouteCase("GET", "/healthz", None, 200, _get),
    RouteCase("GET", "/readyz", None, 200, _get),
    RouteCase("GET", "/metrics", ADMIN_ONLY, 200, _get),
]


def expected_status(route: RouteCase, caller: str) -> int:
    if route.allowed is None:
        return route.success
    if caller in UNAUTHENTICATED:
        return 401
    return route.success if caller in route.allowed else 403


def headers_for(api: Api, caller: str) -> dict[str, str]:
    if caller == NO_KEY:
        return {}
    if caller == UNKNOWN_KEY:
        return auth("lsk_" + secrets.token_urlsafe(32))
    if caller == REVOKED_KEY:
        created = api.client.post(
            "/v1/keys", json={"name": "revoked-admin", "role": "admin"}, headers=auth(api.admin)
        )
        assert created.status_code == 201, created.text
        revoked = api.client.delete(f"/v1/keys/{created.json()['id']}", headers=auth(api.admin))
        assert revoked.status_code == 204, revoked.text
        return auth(created.json()["key"])
    if caller == ADMIN:
        return auth(api.admin)
    if caller == MARKETING:
        return auth(api.marketing)
    if caller == CRAWLER:
        return auth(api.crawler)
    assert caller == SECURITY
    return auth(api.security)


def state(api: Api, targets: Targets) -> dict[str, Any]:
    """Everything a write could change, as the admin sees it through the API: the lists, and
    the case's own leak (the one object a call changes without changing a list)."""
    admin = auth(api.admin)
    paths = ["/v1/keys", "/v1/assets", "/v1/leaks", "/v1/webhooks"]
    if "leak_id" in vars(targets):
        paths.append(f"/v1/leaks/{targets.leak_id}")
    snapshot: dict[str, Any] = {}
    for path in paths:
        response = api.client.get(path, headers=admin)
        assert response.status_code == 200, response.text
        snapshot[path] = response.json()
    return snapshot


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]


@pytest.mark.parametrize(
    ("route", "caller"),
    [(route, caller) for route in MATRIX for caller in CALLERS],
    ids=[f"{route.name} as {caller}" for route in MATRIX for caller in CALLERS],
)
def test_role_matrix(shared_api: Api, route: RouteCase, caller: str) -> None:
    api, targets = shared_api, Targets(shared_api)
    url = targets.url(route.path)
    headers = headers_for(api, caller)
    before = state(api, targets)

    response = route.call(api, url, headers)

    expected = expected_status(route, caller)
    if expected in (401, 403):
        assert_problem(response, expected)
        if expected == 401:
            assert response.headers.get("www-authenticate", "").startswith("Bearer")
        assert state(api, targets) == before, f"a refused {route.name} changed something"
    else:
        assert response.status_code == expected, response.text


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "lsk_no_scheme_at_all"],
    ids=["basic-scheme", "bearer-without-key", "bearer-blank", "key-without-scheme"],
)
def test_malformed_authorization_header_is_401(api: Api, authorization: str) -> None:
    response = api.client.get("/v1/assets", headers={"Authorization": authorization})
    assert_problem(response, 401)


def _registered_routes(app: FastAPI) -> set[str]:
    """Every method and path the app answers; routers included with `include_router` are
    flattened the way FastAPI itself walks them for the OpenAPI document."""
    found: set[str] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path in DOCS_PATHS or path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            continue
        if route.methods:
            found.update(f"{m} {path}" for m in route.methods if m != "HEAD")
        else:  # a mount, a websocket or anything else new: it needs a row too
            found.add(f"{type(route.original_route).__name__} {path}")
    return found


def test_matrix_covers_every_route_of_the_app(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    registered = _registered_routes(app)
    in_matrix = {route.name for route in MATRIX}
    assert registered - in_matrix == set(), "routes without a row in the role matrix"
    assert in_matrix - registered == set(), "matrix rows for routes the app does not have"


def test_key_list_reveals_no_part_of_any_secret(api: Api, bootstrap_key: str) -> None:
    # The bootstrap admin key's first 12 characters were listed: a chosen secret of 24 characters
    # then had half of it in every admin's listing (and CLI output).
    # The random part of each: the fixed starts (`lsk_`, the fixture's `lsk_bootstrap_`) are no secret.
    random_parts = [
        bootstrap_key.removeprefix("lsk_bootstrap_"),
        api.crawler.removeprefix("lsk_"),
        api.security.removeprefix("lsk_"),
    ]
    listing = api.client.get("/v1/keys", headers=auth(api.admin))
    assert listing.status_code == 200, listing.text
    assert len(listing.json()["items"]) == 3
    for part in random_parts:
        for start in range(len(part) - 5):
            assert part[start : start + 6] not in listing.text, "a part of a key's secret is listed"
