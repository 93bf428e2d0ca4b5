"""The audit trail: writes and exports recorded with who, what, when and from where, and
`GET /v1/audit` for admin keys only, filtered and paged newest first."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.settings import Settings
from testing.images import jpeg
from testing.server import running
from tests.api_client import Api, SettledClient, auth


def audit_call(api: Api, key: str | None = None, **params: Any) -> httpx.Response:
    return api.client.get("/v1/audit", params=params, headers=auth(key or api.admin))


def events(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = audit_call(api, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def key_id_of(api: Api, name: str) -> str:
    response = api.client.get("/v1/keys", headers=auth(api.admin))
    [key] = [k for k in response.json()["items"] if k["name"] == name]
    return str(key["id"])


def some_activity(api: Api) -> tuple[str, str]:
    """Keys issued, an asset registered, a leak triaged and exported; the asset and leak ids."""
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    patched = api.client.patch(
        f"/v1/leaks/{leak['id']}", json={"status": "confirmed"}, headers=auth(api.security)
    )
    assert patched.status_code == 200, patched.text
    exported = api.client.get(f"/v1/leaks/{leak['id']}/evidence", headers=auth(api.security))
    assert exported.status_code == 200, exported.text
    return str(asset["id"]), str(leak["id"])


def test_writes_and_exports_show_up_with_actor_action_and_origin(api: Api) -> None:
    asset_id, leak_id = some_activity(api)

    found = events(api)

    assert [(e["action"], e["actor_name"]) for e in found] == [
        ("leak.export_evidence", "security-key"),
        ("leak.update", "security-key"),
        ("key.create", "bootstrap-admin"),  # the security key, made when first needed
        ("sighting.submit", "crawler-key"),
        ("key.create", "bootstrap-admin"),  # the crawler key
        ("asset.register", "marketing-key"),
        ("key.create", "bootstrap-admin"),  # the marketing key
    ]
    assert [e["target_id"] for e in found[:2]] + [found[5]["target_id"]] == [
        leak_id,
        leak_id,
        asset_id,
    ]
    assert found[2]["detail"] == {"role": "security", "name": "security-key"}
    security_id = key_id_of(api, "security-key")
    assert found[0]["actor_key_id"] == security_id
    assert found[1]["detail"] == {"from_status": "open", "to_status": "confirmed"}
    assert all(e["remote_addr"] == "testclient" for e in found)
    times = [datetime.fromisoformat(e["at"]) for e in found]
    assert times == sorted(times, reverse=True)


def test_audit_times_and_revocations_follow_the_service_clock(api: Api) -> None:
    api.clock.advance(timedelta(days=3))  # days from the wall clock: no accidental agreement
    some_activity(api)
    crawler_id = key_id_of(api, "crawler-key")
    revoked = api.client.delete(f"/v1/keys/{crawler_id}", headers=auth(api.admin))
    assert revoked.status_code == 204, revoked.text

    assert {datetime.fromisoformat(e["at"]) for e in events(api)} == {api.clock.now}
    listed = api.client.get("/v1/keys", headers=auth(api.admin)).json()["items"]
    [crawler] = [k for k in listed if k["id"] == crawler_id]
    assert datetime.fromisoformat(crawler["revoked_at"]) == api.clock.now


def test_filters_narrow_the_trail(api: Api) -> None:
    asset_id, leak_id = some_activity(api)
    security_id = key_id_of(api, "security-key")

    assert {e["action"] for e in events(api, actor_key_id=security_id)} == {
        "leak.update",
        "leak.export_evidence",
    }
    assert [e["target_id"] for e in events(api, action="asset.register")] == [asset_id]
    assert [e["action"] for e in events(api, target_type="leak", target_id=leak_id)] == [
        "leak.export_evidence",
        "leak.update",
    ]
    assert events(api, target_type="leak", target_id=asset_id) == []

    everything = events(api)
    middle = datetime.fromisoformat(everything[1]["at"])
    since = events(api, since=middle.isoformat())
    until = events(api, until=(middle - timedelta(microseconds=1)).isoformat())
    assert {e["id"] for e in since} | {e["id"] for e in until} == {e["id"] for e in everything}
    assert all(datetime.fromisoformat(e["at"]) >= middle for e in since)
    assert all(datetime.fromisoformat(e["at"]) < middle for e in until)


def test_pages_follow_the_cursor_newest_first_without_gaps(api: Api) -> None:
    some_activity(api)
    everything = events(api, limit=200)
    assert len(everything) >= 6

    paged: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = audit_call(api, **params).json()
        assert len(body["items"]) <= 2
        paged += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [e["id"] for e in paged] == [e["id"] for e in everything]


def test_only_admin_keys_read_the_trail(api: Api) -> None:
    some_activity(api)
    for key in (api.security, api.marketing, api.crawler):
        refused = audit_call(api, key)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/v1/audit").status_code == 401


def test_bad_filters_and_cursors_are_refused(api: Api) -> None:
    assert audit_call(api, cursor="not-a-cursor").status_code == 400
    assert audit_call(api, since="2030-01-01T00:00:00").status_code == 422  # no offset
    assert audit_call(api, actor_key_id="nobody").status_code == 422
    assert audit_call(api, action="x" * 65).status_code == 422


def _origin_of_a_key_created(
    client: TestClient | httpx.Client, admin_key: str, forwarded_for: str
) -> str:
    created = client.post(
        "/v1/keys",
        json={"name": "made-behind-a-header", "role": "crawler"},
        headers={**auth(admin_key), "X-Forwarded-For": forwarded_for},
    )
    assert created.status_code == 201, created.text
    trail = client.get("/v1/audit", params={"action": "key.create"}, headers=auth(admin_key))
    [event] = [e for e in trail.json()["items"] if e["target_id"] == created.json()["id"]]
    return str(event["remote_addr"])


@pytest.mark.parametrize(
    ("trusted", "origin"),
    [
        ((), "127.0.0.1"),  # nobody trusted: the peer, whatever the header says
        (("10.0.0.0/8",), "127.0.0.1"),  # the peer is no trusted proxy
        (("127.0.0.1", "10.0.0.0/8"), "203.0.113.7"),  # the nearest hop no trusted proxy wrote
    ],
)
def test_forged_forwarded_for_does_not_write_the_audit_trail(
    settings: Settings, bootstrap_key: str, trusted: tuple[str, ...], origin: str
) -> None:
    configured = Settings.model_validate({**settings.model_dump(), "trusted_proxies": trusted})
    app = create_app(configured)
    with SettledClient(app, client=("127.0.0.1", 50000)) as client:
        # The client forges 6.6.6.6; a trusted proxy at 10.1.2.3 appended the peer it saw.
        found = _origin_of_a_key_created(client, bootstrap_key, "6.6.6.6, 203.0.113.7, 10.1.2.3")
    assert found == origin


@pytest.mark.slow
def test_forged_forwarded_for_is_not_believed_by_the_server(
    server_env: dict[str, str], tmp_path: Path, bootstrap_key: str
) -> None:
    # uvicorn by itself believes the header from any local peer.
    with (
        running(server_env, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        found = _origin_of_a_key_created(client, bootstrap_key, "6.6.6.6")
    assert found == "127.0.0.1"
