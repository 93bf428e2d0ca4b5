"""Signing secrets: sealed at rest, sealed at start if stored in the clear, keys rotated or lost."""

import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from service.alerts.outbox import OutboxWorker
from service.settings import Settings
from storage.db import transaction
from storage.models import Webhook as WebhookRow
from tests.api_client import Api
from tests.conftest import Clock
from tests.webhooks.calls import (
    deliveries,
    open_leak,
    register,
    running_app,
    runtime_of,
    triage,
    wait_until,
)
from tests.webhooks.receiver import (
    Receiver,
    verified,
)


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

    # Later than the first alert: the delivery list is newest first, by time, then by id.
    clock.advance(timedelta(seconds=1))
    with running_app(settings, clock, bootstrap_key, secrets_key=new, **quiet) as api:
        triage(api, open_leak_id(api), status="resolved")
        with OutboxWorker(runtime_of(api), clock=clock) as worker:
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
