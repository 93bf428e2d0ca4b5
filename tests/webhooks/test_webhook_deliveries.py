"""Deliveries to a receiver checking each signature: once per event, retries, failures, refusals."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import select
from standardwebhooks import Webhook, WebhookVerificationError

from service.alerts import outbox
from service.alerts.outbox import OutboxWorker
from service.settings import Settings
from storage.db import transaction
from storage.models import AuditEvent
from storage.models import Webhook as WebhookRow
from tests.api_client import Api
from tests.conftest import Clock
from tests.webhooks.calls import (
    RETRY_BASE_SECONDS,
    deliveries,
    open_leak,
    register,
    running_app,
    runtime_of,
    triage,
    wait_until,
    webhook,
)
from tests.webhooks.receiver import (
    Receiver,
    verified,
)


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


def test_a_retry_falling_due_during_a_round_waits_for_the_next_round(
    settings: Settings, clock: Clock, bootstrap_key: str, receiver: Receiver
) -> None:
    receiver.default = 500
    with running_app(settings, clock, bootstrap_key, run_outbox_worker=False) as api:
        hook = register(api, receiver.url)
        open_leak(api)
        # Every reading of the worker's clock is an hour after the last: each retry's backoff
        # has run out by the worker's next look.
        hours = (datetime.now(UTC) + timedelta(hours=n) for n in count())
        with OutboxWorker(runtime_of(api), clock=lambda: next(hours)) as worker:
            assert worker.deliver_due() == 1
            assert worker.deliver_due() == 1
        [delivery] = deliveries(api, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 2)


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
