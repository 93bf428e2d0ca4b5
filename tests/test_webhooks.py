"""Alerts: webhook endpoints, and deliveries from the outbox to a real receiver on loopback that
checks every signature with the `standardwebhooks` library: once per event, across retries, a 410,
a worker restart, a worker that dies mid-attempt, and two workers at once."""

import base64
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlmodel import col, select
from standardwebhooks import Webhook, WebhookVerificationError

from api.app import create_app
from service.alerts import outbox
from service.alerts.outbox import OutboxWorker
from service.runtime import Runtime
from service.settings import Settings
from storage.db import transaction
from storage.models import AuditEvent
from storage.models import Webhook as WebhookRow
from storage.types import utcnow
from testing.images import jpeg
from testing.server import CLI, REPO
from tests.api_client import Api, SettledClient, auth
from tests.conftest import Clock

PROBLEM_JSON = "application/problem+json"
EVENTS = ["leak.opened", "leak.updated"]
# Short enough for a test to see every retry, long enough to tell a backoff from none.
RETRY_BASE_SECONDS = 0.05


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook endpoint on loopback: records every request and answers with the statuses
    queued in `answers`, then `default`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.default = 204
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append(Received(time.monotonic(), self.path, headers, body))
                    status = receiver.answers.pop(0) if receiver.answers else receiver.default
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/leaksentinel"

    def ids(self) -> list[str]:
        with self._lock:
            return [r.headers["webhook-id"] for r in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver is on loopback; the worker polls and retries quickly."""
    return settings.model_copy(
        update={
            "webhook_allow_private_targets": True,
            "outbox_poll_seconds": 0.02,
            "webhook_retry_base_seconds": RETRY_BASE_SECONDS,
        }
    )


@contextmanager
def running_app(
    settings: Settings, clock: Clock, bootstrap_key: str, **changes: Any
) -> Iterator[Api]:
    """Another app on the same database, with some settings changed."""
    app = create_app(settings.model_copy(update=changes), clock=clock)
    with SettledClient(app, raise_server_exceptions=False) as client:
        yield Api(client, bootstrap_key, clock)


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def register(
    api: Api, url: str, events: list[str] | None = None, key: str | None = None
) -> dict[str, Any]:
    response = api.client.post(
        "/v1/webhooks",
        json={"url": url, "events": EVENTS if events is None else events},
        headers=auth(key or api.security),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def open_leak(api: Api) -> tuple[str, str]:
    """A crawler posts a copy of a registered asset: one leak opens. Returns (leak, asset)."""
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks(asset_id=asset["id"])
    return str(leak["id"]), str(asset["id"])


def triage(api: Api, leak_id: str, **change: Any) -> None:
    response = api.client.patch(f"/v1/leaks/{leak_id}", json=change, headers=auth(api.security))
    assert response.status_code == 200, response.text


def deliveries(api: Api, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", params=params, headers=auth(api.security)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def webhook(api: Api, webhook_id: str) -> dict[str, Any]:
    response = api.client.get("/v1/webhooks", headers=auth(api.security))
    assert response.status_code == 200, response.text
    [found] = [h for h in response.json()["items"] if h["id"] == webhook_id]
    return dict(found)


def verified(secret: str, request: Received) -> dict[str, Any]:
    body: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return body


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert {"type", "title", "status", "detail"} <= set(response.json())


# --- endpoints -------------------------------------------------------------------------------


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


# --- deliveries ------------------------------------------------------------------------------


def test_leak_opened_and_updated_are_each_delivered_once_and_signed(
    api: Api, clock: Clock, receiver: Receiver
) -> None:
    hook = register(api, receiver.url)
    leak_id, asset_id = open_leak(api)
    wait_until(lambda: len(receiver.requests) == 1)
    clock.advance(timedelta(seconds=1))
    triage(api, leak_id, status="confirmed", assignee="legal")
    wait_until(lambda: len(receiver.requests) == 2)
    time.sleep(0.3)  # many polls: nothing is sent twice

    assert len(receiver.requests) == 2
    opened, updated = (verified(hook["secret"], r) for r in receiver.requests)
    assert opened == {
        "type": "leak.opened",
        "timestamp": opened["timestamp"],
        "data": {
            "leak_id": leak_id,
            "asset_id": asset_id,
            "status": "open",
            "url": f"/v1/leaks/{leak_id}",
        },
    }
    assert updated["type"] == "leak.updated"
    assert updated["data"] == {**opened["data"], "status": "confirmed"}
    # The body on the wire is the stored payload, compact JSON; nothing confidential in it.
    assert json.loads(receiver.requests[0].body) == opened
    assert b"Prototype" not in receiver.requests[0].body
    first = receiver.requests[0]
    assert first.path == "/hooks/leaksentinel"
    assert first.headers["content-type"] == "application/json"
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 60
    with pytest.raises(WebhookVerificationError):
        Webhook(register(api, receiver.url)["secret"]).verify(first.body, first.headers)

    log = deliveries(api, hook["id"])
    assert [d["event_type"] for d in log] == ["leak.updated", "leak.opened"]  # newest first
    assert [d["id"] for d in reversed(log)] == receiver.ids()
    for delivery in log:
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == 1
        assert delivery["last_status_code"] == 204
        assert delivery["last_error"] is None
        assert delivery["delivered_at"] is not None
        assert delivery["next_attempt_at"] is None


def test_an_endpoint_gets_only_the_events_it_subscribed_to(api: Api, receiver: Receiver) -> None:
    opened_only = register(api, receiver.url, ["leak.opened"])
    leak_id, _ = open_leak(api)
    triage(api, leak_id, status="confirmed")
    wait_until(lambda: len(receiver.requests) >= 1)
    time.sleep(0.3)

    assert [verified(opened_only["secret"], r)["type"] for r in receiver.requests] == [
        "leak.opened"
    ]
    assert len(deliveries(api, opened_only["id"])) == 1


def test_a_failing_receiver_gets_retries_with_backoff_then_success(
    api: Api, receiver: Receiver
) -> None:
    receiver.answers = [500, 503]
    hook = register(api, receiver.url)
    open_leak(api)

    wait_until(lambda: deliveries(api, hook["id"])[0]["status"] == "delivered")

    assert len(receiver.requests) == 3
    assert len(set(receiver.ids())) == 1  # one message, retried under the same id
    for request in receiver.requests:
        assert verified(hook["secret"], request)["type"] == "leak.opened"
    first, second, third = (r.at for r in receiver.requests)
    assert second - first >= RETRY_BASE_SECONDS
    assert third - second >= 2 * RETRY_BASE_SECONDS
    [delivery] = deliveries(api, hook["id"])
    assert (delivery["attempts"], delivery["last_status_code"]) == (3, 204)
    assert delivery["last_error"] is None


def test_an_endpoint_stored_with_an_unparseable_url_records_its_error_and_delays_no_other(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        broken, working = register(api, receiver.url), register(api, receiver.url)
        # As stored before registration parsed URLs the way the delivery does.
        with transaction(runtime_of(api).sessions) as session:
            row = session.get(WebhookRow, uuid.UUID(broken["id"]))
            assert row is not None
            row.url = "http://0177.0.0.1/hook"
        open_leak(api)
        with OutboxWorker(runtime_of(api)) as worker:
            assert worker.deliver_due() == 2

        [failed] = deliveries(api, broken["id"])
        [sent] = deliveries(api, working["id"])
    assert (failed["status"], failed["attempts"]) == ("pending", 1)
    assert failed["last_error"].startswith("url cannot be delivered to: ")
    assert sent["status"] == "delivered"
    assert len(receiver.requests) == 1


def _stored_secret(api: Api, webhook_id: str) -> str:
    with transaction(runtime_of(api).sessions) as session:
        row = session.get(WebhookRow, uuid.UUID(webhook_id))
        assert row is not None
        return row.secret


def _store_secret(api: Api, webhook_id: str, secret: str) -> None:
    with transaction(runtime_of(api).sessions) as session:
        row = session.get(WebhookRow, uuid.UUID(webhook_id))
        assert row is not None
        row.secret = secret


def test_signing_secrets_are_stored_sealed_and_still_sign(api: Api, receiver: Receiver) -> None:
    hook = register(api, receiver.url)
    stored = _stored_secret(api, hook["id"])
    assert stored.startswith("fernet:")
    assert hook["secret"] not in stored
    assert hook["secret"].removeprefix("whsec_") not in stored

    open_leak(api)
    wait_until(lambda: len(receiver.requests) == 1)
    assert verified(hook["secret"], receiver.requests[0])["type"] == "leak.opened"


def test_a_secret_stored_in_the_clear_is_sealed_at_the_next_start(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, receiver.url)
        _store_secret(api, hook["id"], hook["secret"])  # as stored before migration 0009
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        assert _stored_secret(api, hook["id"]).startswith("fernet:")
        open_leak(api)
        with OutboxWorker(runtime_of(api)) as worker:
            assert worker.deliver_due() == 1
    [request] = receiver.requests
    assert verified(hook["secret"], request)["type"] == "leak.opened"


def test_rotated_keys_open_old_secrets_and_a_lost_key_is_an_attempt_error(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    quiet = {"run_outbox_worker": False}
    with running_app(settings, clock, bootstrap_key, secrets_key=old, **quiet) as api:
        hook = register(api, receiver.url)
        open_leak(api)
    rotated = f"{new},{old}"
    with (
        running_app(settings, clock, bootstrap_key, secrets_key=rotated, **quiet) as api,
        OutboxWorker(runtime_of(api)) as worker,
    ):
        assert worker.deliver_due() == 1
    assert verified(hook["secret"], receiver.requests[0])["type"] == "leak.opened"

    with running_app(settings, clock, bootstrap_key, secrets_key=new, **quiet) as api:
        triage(api, open_leak_id(api), status="resolved")
        with OutboxWorker(runtime_of(api)) as worker:
            assert worker.deliver_due() == 1
        [unsigned, _] = deliveries(api, hook["id"])
    assert len(receiver.requests) == 1
    assert (unsigned["status"], unsigned["attempts"]) == ("pending", 1)
    assert "no longer configured" in unsigned["last_error"]


def open_leak_id(api: Api) -> str:
    [leak] = api.leaks()
    return str(leak["id"])


@pytest.mark.parametrize("key", ["not-a-key", "a" * 44, "x,"])
def test_a_malformed_secrets_key_is_refused_with_the_setting_named(key: str) -> None:
    with pytest.raises(ValidationError, match="secrets_key"):
        Settings(_env_file=None, secrets_key=key)  # type: ignore[call-arg]


def test_a_delivery_fails_for_good_after_eight_attempts(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    receiver.default = 500
    with running_app(settings, clock, bootstrap_key, webhook_retry_base_seconds=0.002) as api:
        hook = register(api, receiver.url, ["leak.opened"])
        open_leak(api)
        wait_until(lambda: deliveries(api, hook["id"])[0]["status"] == "failed")
        time.sleep(0.2)

        [delivery] = deliveries(api, hook["id"])
    assert len(receiver.requests) == outbox.MAX_ATTEMPTS == 8
    assert delivery["attempts"] == 8
    assert delivery["last_status_code"] == 500
    assert delivery["last_error"] == "HTTP 500; gave up after 8 attempts"
    assert delivery["next_attempt_at"] is None


def test_410_disables_the_endpoint_and_fails_what_it_had_pending(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    receiver.answers = [410]
    # No background worker: the test drives one, so that two deliveries wait when the 410 comes.
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, receiver.url)
        other = Receiver()
        try:
            bystander = register(api, other.url, ["leak.opened"])
            leak_id, _ = open_leak(api)
            triage(api, leak_id, status="confirmed")
            with OutboxWorker(runtime_of(api)) as worker:
                worker.deliver_due()
            assert len(other.requests) == 1  # another endpoint is not affected
        finally:
            other.close()
        triage(api, leak_id, assignee="legal")  # queues nothing for a disabled endpoint

        disabled = webhook(api, hook["id"])
        log = deliveries(api, hook["id"])
        assert webhook(api, bystander["id"])["status"] == "active"
        with runtime_of(api).sessions() as session:
            audited = session.exec(
                select(AuditEvent).where(AuditEvent.action == "webhook.disable")
            ).all()
    assert len(receiver.requests) == 1
    assert disabled["status"] == "disabled"
    assert "410" in disabled["disabled_reason"]
    assert [d["status"] for d in log] == ["failed", "failed"]
    answered, never_sent = sorted(log, key=lambda d: d["attempts"], reverse=True)
    assert (answered["attempts"], answered["last_status_code"]) == (1, 410)
    assert answered["id"] == receiver.ids()[0]
    assert never_sent["attempts"] == 0
    assert never_sent["last_error"].startswith("endpoint disabled: ")
    assert [(a.actor_name, a.target_id) for a in audited] == [("system", hook["id"])]


def test_private_targets_are_refused_unless_allowed(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    with running_app(
        settings,
        clock,
        bootstrap_key,
        webhook_allow_private_targets=False,
        run_outbox_worker=False,
        webhook_retry_base_seconds=60.0,
    ) as api:
        by_address = register(api, receiver.url)
        by_name = register(api, f"http://localhost:{receiver.port}/hooks")
        open_leak(api)
        with OutboxWorker(runtime_of(api)) as worker:
            assert worker.deliver_due() == 2

        refused = [deliveries(api, h["id"])[0] for h in (by_address, by_name)]
    assert receiver.requests == []
    for delivery in refused:
        assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
        assert delivery["last_status_code"] is None
        assert "loopback address" in delivery["last_error"]
        assert "LEAKSENTINEL_WEBHOOK_ALLOW_PRIVATE_TARGETS" in delivery["last_error"]
        assert delivery["next_attempt_at"] is not None
    assert refused[0]["last_error"].startswith("refused 127.0.0.1: loopback address 127.0.0.1")
    assert refused[1]["last_error"].startswith("refused localhost: loopback address")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_which_addresses_are_refused(address: str, kind: str | None) -> None:
    why = outbox.refusal(address)
    if kind is None:
        assert why is None
    else:
        assert why is not None and why.startswith(f"{kind} address ")


def test_each_event_is_delivered_once_across_a_worker_restart(
    settings: Settings,
    clock: Clock,
    bootstrap_key: str,
    receiver: Receiver,
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    # First process: the API with its background worker delivers the leak's opening.
    with running_app(settings, clock, bootstrap_key) as api:
        hook = register(api, receiver.url)
        leak_id, _ = open_leak(api)
        wait_until(lambda: len(receiver.requests) == 1)

    # No worker runs: these two events wait in the outbox.
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        triage(api, leak_id, status="confirmed")
        triage(api, leak_id, assignee="legal")
        time.sleep(0.3)
        assert len(receiver.requests) == 1
        waiting = Counter(d["status"] for d in deliveries(api, hook["id"]))
        assert waiting == {"pending": 2, "delivered": 1}

        # A separate `leaksentinel worker` process picks them up, then one queued after it started.
        env = {
            **os.environ,
            **server_env,
            "LEAKSENTINEL_OUTBOX_POLL_SECONDS": "0.05",
            "LEAKSENTINEL_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        }
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen([CLI, "worker"], env=env, cwd=REPO, stdout=log, stderr=log)
        try:
            wait_until(lambda: len(receiver.requests) == 3, timeout=60)
            triage(api, leak_id, status="takedown_requested")
            wait_until(lambda: len(receiver.requests) == 4)
            time.sleep(0.3)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
        log_text = (tmp_path / "worker.log").read_text()
        assert code == 0, log_text
        log_ids = {d["id"] for d in deliveries(api, hook["id"])}
        statuses = [d["status"] for d in deliveries(api, hook["id"])]

    counts = Counter(receiver.ids())
    assert set(counts.values()) == {1}, counts
    assert set(counts) == log_ids
    assert statuses == ["delivered"] * 4
    types = [verified(hook["secret"], r)["type"] for r in receiver.requests]
    assert types == ["leak.opened", "leak.updated", "leak.updated", "leak.updated"]
    assert "outbox worker stopped" in log_text


def test_a_worker_that_dies_mid_attempt_is_taken_over_after_its_lease(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, receiver.url, ["leak.opened"])
        open_leak(api)
        runtime = runtime_of(api)
        with OutboxWorker(runtime) as dying, OutboxWorker(runtime) as soon:
            claimed = dying.claim()
            assert claimed is not None and claimed.attempt == 1
            assert soon.deliver_due() == 0  # leased: no other worker touches it

            later = OutboxWorker(runtime, clock=lambda: utcnow() + outbox.LEASE + timedelta(1))
            with later:
                assert later.deliver_due() == 1
            # The first worker comes back and records its outcome: too late, it changes nothing.
            dying.settle(claimed, outbox.Outcome(500, "HTTP 500"))

        [delivery] = deliveries(api, hook["id"])
    assert len(receiver.requests) == 1
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        2,
        204,
    )


def test_two_workers_at_once_deliver_each_event_once(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, receiver.url)
        leak_id, _ = open_leak(api)
        for n in range(11):
            triage(api, leak_id, assignee=f"analyst-{n}")
        runtime = runtime_of(api)
        made: list[int] = []

        def drain() -> None:
            with OutboxWorker(runtime) as worker:
                made.append(worker.deliver_due())

        threads = [threading.Thread(target=drain) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        log = deliveries(api, hook["id"])

    assert sum(made) == 12
    assert Counter(receiver.ids()) == Counter({d["id"]: 1 for d in log})
    assert [d["status"] for d in log] == ["delivered"] * 12


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
