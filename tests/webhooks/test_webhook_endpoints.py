"""Webhook endpoints: registered, listed without secret, deleted, refused; deliveries paged."""

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from service.settings import Settings
from storage.models import AuditEvent
from tests.api_client import Api, auth
from tests.conftest import Clock
from tests.webhooks.calls import (
    EVENTS,
    assert_problem,
    deliveries,
    open_leak,
    register,
    running_app,
    runtime_of,
    triage,
)


def test_an_endpoint_is_registered_listed_without_secret_and_deleted(api: Api) -> None:
    created = register(api, "https://hooks.example.com/leaks", events=["leak.updated"])

    assert set(created) >= {"id", "url", "events", "secret"}
    assert created["url"] == "https://hooks.example.com/leaks"
    assert created["events"] == ["leak.updated"]
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    listed = api.client.get("/v1/webhooks", headers=auth(api.security)).json()
    [item] = listed["items"]
    assert listed["next_cursor"] is None
    assert "secret" not in item
    assert (item["id"], item["status"], item["disabled_reason"]) == (
        created["id"],
        "active",
        None,
    )
    assert deliveries(api, created["id"]) == []

    deleted = api.client.delete(f"/v1/webhooks/{created['id']}", headers=auth(api.admin))

    assert deleted.status_code == 204
    assert api.client.get("/v1/webhooks", headers=auth(api.security)).json()["items"] == []
    again = api.client.delete(f"/v1/webhooks/{created['id']}", headers=auth(api.security))
    assert_problem(again, 404)
    gone = api.client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=auth(api.admin))
    assert_problem(gone, 404)
    with runtime_of(api).sessions() as session:
        actions = session.exec(
            select(AuditEvent.action, AuditEvent.target_id)
            .where(col(AuditEvent.action).startswith("webhook."))
            .order_by(col(AuditEvent.id))
        ).all()
    assert [tuple(a) for a in actions] == [
        ("webhook.create", created["id"]),
        ("webhook.delete", created["id"]),
    ]


def test_events_are_kept_in_their_canonical_order_without_repeats(api: Api) -> None:
    created = register(api, "https://hooks.example.com/", ["leak.updated", "leak.opened"] * 2)
    assert created["events"] == ["leak.opened", "leak.updated"]


@pytest.mark.parametrize("role", ["crawler", "marketing"])
def test_only_security_and_admin_manage_endpoints(api: Api, role: str) -> None:
    key = getattr(api, role)
    existing = register(api, "https://hooks.example.com/a")
    body = {"url": "https://hooks.example.com/b", "events": EVENTS}

    assert_problem(api.client.post("/v1/webhooks", json=body, headers=auth(key)), 403)
    assert_problem(api.client.get("/v1/webhooks", headers=auth(key)), 403)
    path = f"/v1/webhooks/{existing['id']}"
    assert_problem(api.client.get(f"{path}/deliveries", headers=auth(key)), 403)
    assert_problem(api.client.delete(path, headers=auth(key)), 403)
    listed = api.client.get("/v1/webhooks", headers=auth(api.admin)).json()["items"]
    assert [h["id"] for h in listed] == [existing["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.com/leaks", "events": EVENTS},
        {"url": "/hooks/leaks", "events": EVENTS},
        {"url": "javascript:alert(1)", "events": EVENTS},
        {"url": "https://hooks.example.com/" + "a" * 2050, "events": EVENTS},
        {"url": "https://hooks.example.com/leaks", "events": ["leak.deleted"]},
        {"url": "https://hooks.example.com/leaks", "events": ["leak.opened", "asset.created"]},
        {"url": "https://hooks.example.com/leaks", "events": []},
        {"url": "https://hooks.example.com/leaks", "events": "leak.opened"},
        {"url": "https://hooks.example.com/leaks"},
        {"events": EVENTS},
        {"url": "https://hooks.example.com/leaks", "events": EVENTS, "secret": "whsec_x"},
        {"url": "http://0177.0.0.1/hook", "events": EVENTS},
        {"url": "http://①②⑦.0.0.1/hook", "events": EVENTS},
    ],
    ids=[
        "ftp-url",
        "relative-url",
        "javascript-url",
        "url-too-long",
        "unknown-event",
        "one-unknown-event",
        "no-events",
        "events-not-a-list",
        "events-missing",
        "url-missing",
        "secret-chosen-by-client",
        "octal-ipv4-host-the-delivery-cannot-parse",
        "enclosed-digit-host-the-delivery-cannot-parse",
    ],
)
def test_bad_endpoint_is_422_and_stores_nothing(api: Api, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/webhooks", json=body, headers=auth(api.security))

    assert_problem(response, 422)
    assert api.client.get("/v1/webhooks", headers=auth(api.security)).json()["items"] == []


def test_bad_ids_and_cursors_are_problems(api: Api) -> None:
    security = auth(api.security)
    assert_problem(api.client.get("/v1/webhooks/not-a-uuid/deliveries", headers=security), 422)
    assert_problem(api.client.delete("/v1/webhooks/not-a-uuid", headers=security), 422)
    unknown = "/v1/webhooks/00000000-0000-4000-8000-000000000000"
    assert_problem(api.client.get(f"{unknown}/deliveries", headers=security), 404)
    assert_problem(api.client.delete(unknown, headers=security), 404)
    hook = register(api, "https://hooks.example.com/")
    path = f"/v1/webhooks/{hook['id']}/deliveries"
    assert_problem(api.client.get(path, params={"cursor": "garbage"}, headers=security), 400)
    assert_problem(api.client.get(path, params={"limit": 0}, headers=security), 422)


def test_deliveries_are_paged_newest_first(
    settings: Settings, clock: Clock, bootstrap_key: str
) -> None:
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, "https://hooks.example.com/")
        leak_id, _ = open_leak(api)
        clock.advance(timedelta(seconds=1))
        triage(api, leak_id, status="confirmed")
        clock.advance(timedelta(seconds=1))
        triage(api, leak_id, assignee="legal")
        path = f"/v1/webhooks/{hook['id']}/deliveries"

        first = api.client.get(path, params={"limit": 2}, headers=auth(api.security)).json()
        second = api.client.get(
            path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(api.security)
        ).json()

    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    events = [d["event_type"] for d in first["items"] + second["items"]]
    assert events == ["leak.updated", "leak.updated", "leak.opened"]
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in first["items"])
