"""Ids that name nothing or are no UUID, and bad list queries: each a problem, nothing changed."""

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx2 as httpx
import pytest

from service.settings import Settings
from tests.api_client import Api, auth
from tests.bad_input.calls import (
    OUT_OF_RANGE,
    assert_problem,
    stored,
)


@dataclass(frozen=True)
class IdRoute:
    method: str
    path: str
    body: dict[str, Any] | None
    role: str


ID_ROUTES = {
    "GET-asset": IdRoute("GET", "/v1/assets/{}", None, "marketing"),
    "PATCH-asset": IdRoute("PATCH", "/v1/assets/{}", {"status": "retired"}, "marketing"),
    "GET-leak": IdRoute("GET", "/v1/leaks/{}", None, "security"),
    "GET-leak-sightings": IdRoute("GET", "/v1/leaks/{}/sightings", None, "security"),
    "PATCH-leak": IdRoute("PATCH", "/v1/leaks/{}", {"status": "confirmed"}, "security"),
    "DELETE-key": IdRoute("DELETE", "/v1/keys/{}", None, "admin"),
}


def key_for(api: Api, role: str) -> str:
    return {"marketing": api.marketing, "security": api.security, "admin": api.admin}[role]


def call_with_id(api: Api, route: IdRoute, some_id: str) -> httpx.Response:
    return api.client.request(
        route.method,
        route.path.format(some_id),
        json=route.body,
        headers=auth(key_for(api, route.role)),
    )


@pytest.mark.parametrize("route", list(ID_ROUTES.values()), ids=list(ID_ROUTES))
def test_unknown_id_is_404_and_changes_nothing(
    api: Api, settings: Settings, leak_id: str, route: IdRoute
) -> None:
    before = stored(api, settings)

    assert_problem(call_with_id(api, route, str(uuid4())), 404)

    assert stored(api, settings) == before
    assert api.client.get("/healthz").status_code == 200


@pytest.mark.parametrize("some_id", ["not-a-uuid", "00000000-0000-0000-0000"])
@pytest.mark.parametrize("route", list(ID_ROUTES.values()), ids=list(ID_ROUTES))
def test_id_that_is_not_a_uuid_is_422(api: Api, route: IdRoute, some_id: str) -> None:
    assert_problem(call_with_id(api, route, some_id), 422)


# --- list queries ------------------------------------------------------------------------------

BAD_QUERIES = {
    "leaks-unknown-status": ("/v1/leaks", {"status": "bogus"}, 422),
    "leaks-since-words": ("/v1/leaks", {"since": "next tuesday"}, 422),
    "leaks-until-naive": ("/v1/leaks", {"until": "2031-03-01T09:00:00"}, 422),
    "leaks-since-overflows-utc": ("/v1/leaks", {"since": OUT_OF_RANGE["year-1-ahead-of-utc"]}, 422),
    "leaks-asset-id-not-uuid": ("/v1/leaks", {"asset_id": "not-a-uuid"}, 422),
    "leaks-cursor-garbage": ("/v1/leaks", {"cursor": "garbage!"}, 400),
    "leaks-limit-zero": ("/v1/leaks", {"limit": "0"}, 422),
    "assets-cursor-garbage": ("/v1/assets", {"cursor": "bm90IGEgY3Vyc29y"}, 400),
    "assets-limit-not-a-number": ("/v1/assets", {"limit": "ten"}, 422),
}


@pytest.mark.parametrize(
    ("path", "params", "expected"), list(BAD_QUERIES.values()), ids=list(BAD_QUERIES)
)
def test_bad_list_query_is_refused(
    api: Api, path: str, params: dict[str, str], expected: int
) -> None:
    assert_problem(api.client.get(path, params=params, headers=auth(api.security)), expected)
    assert api.client.get(path, headers=auth(api.security)).status_code == 200
