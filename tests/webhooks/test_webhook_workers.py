"""Outbox workers: once per event across a restart, a worker dying mid-attempt, two at once."""

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from service.alerts import outbox
from service.alerts.outbox import OutboxWorker
from service.settings import Settings
from storage.types import utcnow
from testing.server import CLI, REPO
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
