"""The match decision after the receipt: answered first, matched a moment later, never lost by a
stop in between and never recorded twice."""

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.ingest import match_queue
from service.ingest.inbox import Received
from service.runtime import Runtime, close, open_runtime
from service.settings import Settings
from storage.repositories import pending_matches
from testing.images import jpeg
from tests.api_client import Api
from tests.conftest import Clock


class Held:
    """Holds the match worker before it searches, until `release`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        real = match_queue.match_and_record

        def held(runtime: Runtime, received: Sequence[Received]) -> int:
            if not self.gate.wait(30):
                raise TimeoutError("the test never released the match worker")
            return real(runtime, received)

        monkeypatch.setattr(match_queue, "match_and_record", held)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    held = Held(monkeypatch)
    yield held
    held.release()  # so that the worker can stop


def started(settings: Settings, clock: Clock) -> TestClient:
    # A plain TestClient: it does not wait for the worker after each request.
    return TestClient(create_app(settings, clock=clock), raise_server_exceptions=False)


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def queued(client: TestClient) -> int:
    with runtime_of(client).sessions() as session:
        return pending_matches.count(session)


def leaks_within(api: Api, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while not (found := api.leaks()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_receipt_is_answered_before_the_match_so_its_timing_tells_nothing(
    settings: Settings, clock: Clock, bootstrap_key: str, held: Held
) -> None:
    with started(settings, clock) as client:
        api = Api(client, bootstrap_key, clock)
        asset = api.asset(jpeg(1))
        response = api.post_sighting(jpeg(1, quality=50))
        assert response.status_code == 201, response.text

        assert api.leaks() == []
        assert queued(client) == 1
        held.release()
        assert runtime_of(client).inbox.wait_idle(30)
        [leak] = api.leaks()
        assert leak["asset"]["id"] == asset["id"]
        assert [s["id"] for s in api.leak(leak["id"])["sightings"]] == [response.json()["id"]]
        assert queued(client) == 0


def test_a_leak_is_visible_moments_after_the_receipt(
    settings: Settings, clock: Clock, bootstrap_key: str
) -> None:
    with started(settings, clock) as client:
        api = Api(client, bootstrap_key, clock)
        api.asset(jpeg(1))
        assert api.post_sighting(jpeg(1, quality=50)).status_code == 201
        # The bound is generous for a shared test machine; bench/receipt_timing.py measures it.
        [leak] = leaks_within(api, 10)
        assert leak["sightings_count"] == 1


def test_a_match_left_queued_by_a_stop_is_recorded_at_the_next_start(
    settings: Settings, clock: Clock, bootstrap_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(match_queue, "start_background", lambda runtime: None)  # no worker
        with started(settings, clock) as client:
            api = Api(client, bootstrap_key, clock)
            api.asset(jpeg(1))
            receipt = api.sighting(jpeg(1, quality=50))
            assert api.leaks() == []
            assert queued(client) == 1

    with started(settings, clock) as client:
        api = Api(client, bootstrap_key, clock)
        [leak] = leaks_within(api, 10)
        assert [s["id"] for s in api.leak(leak["id"])["sightings"]] == [receipt["id"]]
        assert queued(client) == 0


def test_a_queued_sighting_is_recorded_once_however_many_workers_take_it(
    settings: Settings, clock: Clock, bootstrap_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(match_queue, "start_background", lambda runtime: None)  # no worker
    with started(settings, clock) as client:
        api = Api(client, bootstrap_key, clock)
        api.asset(jpeg(1))
        api.sighting(jpeg(1, quality=50))
        runtime = runtime_of(client)
        handed = runtime.inbox.take(10, timeout=0)

        # Another process's sweep takes it first (this process's own sweep leaves alone what
        # its workers hold); then the worker it was handed to, and any later sweep, skip it.
        other = open_runtime(settings)
        try:
            other.replica.load(other.sessions)
            assert match_queue.match_queued(runtime, None) == 0  # held here
            assert match_queue.match_queued(other, None) == 1
        finally:
            close(other)
        assert match_queue.match_and_record(runtime, handed) == 0
        runtime.inbox.done(handed)
        assert match_queue.match_queued(runtime, None) == 0

        [leak] = api.leaks()
        assert leak["sightings_count"] == 1
        assert len(api.leak(leak["id"])["sightings"]) == 1


def test_a_sighting_received_before_the_embargo_ends_is_a_leak_when_matched_after_it(
    settings: Settings, clock: Clock, bootstrap_key: str, held: Held
) -> None:
    with started(settings, clock) as client:
        api = Api(client, bootstrap_key, clock)
        api.asset(jpeg(1), embargo_in=timedelta(minutes=1))
        api.sighting(jpeg(1, quality=50))
        clock.advance(timedelta(hours=1))
        held.release()
        assert runtime_of(client).inbox.wait_idle(30)
        [leak] = api.leaks()
        assert leak["status"] == "open"
