"""Fixtures of the webhook tests: quick outbox settings in place of the suite's, and a receiver."""

from collections.abc import Iterator

import pytest

from service.settings import Settings
from tests.webhooks.calls import RETRY_BASE_SECONDS
from tests.webhooks.receiver import Receiver


@pytest.fixture(name="settings")
def webhook_settings(settings: Settings) -> Settings:
    """The receiver is on loopback; the worker polls and retries quickly."""
    return settings.model_copy(
        update={
            "webhook_allow_private_targets": True,
            "outbox_poll_seconds": 0.02,
            "webhook_retry_base_seconds": RETRY_BASE_SECONDS,
        }
    )


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
