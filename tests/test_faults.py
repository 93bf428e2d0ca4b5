"""Faults outside the service: its PostgreSQL crashing and coming back under load."""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx2 as httpx
import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from service.detection.decode import ImageLimits
from service.ingest.intake import fingerprint_locally
from storage.db import is_unavailable
from testing.images import jpeg
from testing.server import Server, issue_keys, stored_sighting_ids
from testing.server import verify as verify_cli
from tests.api_client import auth
from tests.pg_cluster import Cluster, private_cluster

pytestmark = pytest.mark.slow

EMBARGO = "2099-01-01T00:00:00Z"
CRAWLERS = 3
# Load before the crash, the outage, and the most the service may take to answer again once
# the database is back: the outage is long enough for every kind of request to meet it.
LOAD_BEFORE_SECONDS = 1.5
OUTAGE_SECONDS = 3.0
RECOVERY_DEADLINE_SECONDS = 10.0
# A request may never wait longer than this while the database is away: the connect timeout
# (5 s) bounds it, and far less when the port is simply closed.
MAX_OUTAGE_LATENCY_SECONDS = 6.0
# Above this, the client gives up and the test counts a hang.
CLIENT_TIMEOUT_SECONDS = 20.0
DATABASE_UNAVAILABLE = "urn:leaksentinel:problem:database-unavailable"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as running:
        yield running


# ---- load and its record -----------------------------------------------------------------------


@dataclass
class Answer:
    kind: str
    sent: float
    answered: float
    status: int | None  # None: no answer at all (timeout, connection error)
    problem_type: str | None = None
    retry_after: str | None = None
    content_type: str = ""
    error: str = ""
    receipts: list[UUID] = field(default_factory=list)


@dataclass
class Record:
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[Answer] = field(default_factory=list)
    acknowledged: set[UUID] = field(default_factory=set)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)
            self.acknowledged.update(answer.receipts)

    def of(self, kind: str) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.kind == kind]


Receipts = Callable[[Any], list[dict[str, Any]]]


def call(
    record: Record,
    kind: str,
    send: Callable[[], httpx.Response],
    expected: int,
    receipts: Receipts = lambda _: [],
) -> None:
    sent = time.monotonic()
    try:
        response = send()
    except httpx.HTTPError as exc:
        record.add(Answer(kind, sent, time.monotonic(), None, error=repr(exc)))
        return
    answered = time.monotonic()
    answer = Answer(
        kind,
        sent,
        answered,
        response.status_code,
        content_type=response.headers.get("content-type", ""),
        retry_after=response.headers.get("retry-after"),
    )
    if response.status_code != expected:
        try:
            answer.problem_type = response.json().get("type")
        except ValueError:
            answer.error = response.text[:300]
        record.add(answer)
        return
    answer.receipts = [UUID(r["id"]) for r in receipts(response.json())]
    record.add(answer)


def created_receipts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["receipt"] for item in body["items"] if item["outcome"] == "created"]


def crawler(
    number: int, base_url: str, key: str, image: bytes, hashes: dict[str, Any], record: Record
) -> None:
    with httpx.Client(base_url=base_url, headers=auth(key), timeout=CLIENT_TIMEOUT_SECONDS) as http:
        n = 0
        while not record.stop.is_set():
            page = f"https://crawler{number}.example.net/{n}"
            if n % 2 == 0:
                upload = partial(
                    http.post,
                    "/v1/sightings",
                    files={"file": ("found.jpg", image, "image/jpeg")},
                    data={"page_url": page},
                )
                call(record, "upload", upload, 201, lambda body: [body])
            else:
                items = [{"page_url": f"{page}/{i}", **hashes} for i in range(4)]
                batch = partial(http.post, "/v1/sightings/fingerprints", json={"items": items})
                call(record, "hash-only", batch, 200, created_receipts)
            n += 1


def reader(base_url: str, key: str, record: Record) -> None:
    with httpx.Client(base_url=base_url, headers=auth(key), timeout=CLIENT_TIMEOUT_SECONDS) as http:
        while not record.stop.is_set():
            call(record, "read", partial(http.get, "/v1/leaks"), 200)
            time.sleep(0.05)


def readiness(base_url: str) -> int | None:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=CLIENT_TIMEOUT_SECONDS).status_code
    except httpx.HTTPError:
        return None


# ---- the test ----------------------------------------------------------------------------------


def test_postgres_crash_answers_503_then_recovers_without_a_restart(
    cluster: Cluster, tmp_path: Path, bootstrap_key: str
) -> None:
    env = {
        "LEAKSENTINEL_DATA_DIR": str(tmp_path / "data"),
        "LEAKSENTINEL_DATABASE_URL": cluster.url,
        "LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY": bootstrap_key,
    }
    server = Server(env, tmp_path / "server.log")
    record = Record()
    threads: list[threading.Thread] = []
    server.start()
    try:
        keys = issue_keys(server.base_url, bootstrap_key)
        asset = httpx.post(
            f"{server.base_url}/v1/assets",
            files={"file": ("asset.jpg", jpeg(1), "image/jpeg")},
            data={"name": "front", "product": "SU7", "embargo_until": EMBARGO},
            headers=auth(keys["marketing"]),
            timeout=60,
        )
        assert asset.status_code == 201, asset.text
        # The leaked copy itself: every sighting joins the asset's leak report.
        leaked = jpeg(1, size=(320, 240), quality=60)
        local = fingerprint_locally(leaked, ImageLimits(max_bytes=1 << 24, max_pixels=10**7))
        hashes = {
            "sha256": local.sha256,
            "fingerprints": [
                {"algorithm": p.algorithm, "variant": p.variant, "hex": p.hex}
                for p in local.prints.fingerprints
            ],
        }
        threads = [
            threading.Thread(
                target=crawler,
                args=(n, server.base_url, keys["crawler"], leaked, hashes, record),
                daemon=True,
            )
            for n in range(CRAWLERS)
        ]
        threads.append(
            threading.Thread(
                target=reader, args=(server.base_url, keys["security"], record), daemon=True
            )
        )
        for thread in threads:
            thread.start()
        time.sleep(LOAD_BEFORE_SECONDS)
        before = len(record.acknowledged)
        assert before > 0, record.answers[:5]

        cluster.crash()
        down_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS / 2)
        ready_while_down = readiness(server.base_url)
        time.sleep(OUTAGE_SECONDS / 2)
        restart_at = time.monotonic()
        cluster.start()
        up_at = time.monotonic()

        # Wait until every kind of request has succeeded again, sent after the restart.
        recovered: dict[str, float] = {}
        while len(recovered) < 3 and time.monotonic() - up_at < RECOVERY_DEADLINE_SECONDS:
            for kind in ("upload", "hash-only", "read"):
                ok = [a for a in record.of(kind) if a.sent >= up_at and a.status in (200, 201)]
                if ok and kind not in recovered:
                    recovered[kind] = min(a.answered for a in ok) - up_at
            time.sleep(0.05)
        time.sleep(0.5)  # a little steady load after recovery, to see it stays recovered
        record.stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)
        assert not any(thread.is_alive() for thread in threads)
        ready_after = readiness(server.base_url)
        assert server.process is not None and server.process.poll() is None, "the server died"

        answers = record.answers
        hangs = [a for a in answers if a.status is None]
        assert not hangs, f"{len(hangs)} requests got no answer: {hangs[:3]}"
        others = [a for a in answers if a.status not in (200, 201, 503)]
        assert not others, f"{len(others)} unexpected answers: {others[:3]}"
        unavailable = [a for a in answers if a.status == 503]
        bad_problems = [
            a
            for a in unavailable
            if a.problem_type != DATABASE_UNAVAILABLE
            or not a.content_type.startswith("application/problem+json")
            or not (a.retry_after or "").isdigit()
        ]
        assert not bad_problems, bad_problems[:3]
        # Everything sent while the database was away was refused, quickly, with a 503.
        in_outage = [a for a in answers if down_at + 0.2 <= a.sent and a.answered <= restart_at]
        for kind in ("upload", "hash-only", "read"):
            refused = [a for a in in_outage if a.kind == kind]
            assert refused, f"no {kind} request during the outage"
            assert all(a.status == 503 for a in refused), [a for a in refused if a.status != 503]
        slowest = max(a.answered - a.sent for a in in_outage)
        assert slowest < MAX_OUTAGE_LATENCY_SECONDS, slowest
        assert ready_while_down == 503
        # Back by itself: every kind succeeded again, and nothing failed after that.
        assert set(recovered) == {"upload", "hash-only", "read"}, recovered
        last_refusal = max(a.answered for a in unavailable)
        settled = [a for a in answers if a.sent > last_refusal]
        assert settled and all(a.status in (200, 201) for a in settled)
        assert ready_after == 200

        # Every sighting acknowledged before the crash and after the restart is stored, and the
        # evidence chain holds.
        stored = stored_sighting_ids(cluster.url)
        lost = record.acknowledged - stored
        assert not lost, (
            f"{len(lost)} of {len(record.acknowledged)} acknowledged sightings lost; answered at "
            f"(s from the crash; restart at {restart_at - down_at:.2f} s, ready "
            f"{up_at - down_at:.2f} s): "
            + str(
                [(a.kind, round(a.answered - down_at, 3)) for a in answers if lost & {*a.receipts}]
            )
        )
        verify = verify_cli(env)
        assert verify.returncode == 0, f"{verify.stdout}{verify.stderr}"
        assert f"chain intact: {len(stored)} records" in verify.stdout, verify.stdout

        print(
            f"\n{len(answers)} requests, {len(unavailable)} answered 503 "
            f"(first {min(a.answered for a in unavailable) - down_at:.2f} s after the crash, "
            f"last {last_refusal - up_at:+.2f} s from the restart), slowest answer during the "
            f"outage {slowest * 1000:.0f} ms; first success after the restart: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(recovered.items()))
            + f"; {len(record.acknowledged)} acknowledged ({before} before the crash), "
            f"{len(stored)} stored, 0 lost"
        )
    finally:
        record.stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)
        server.stop()


# ---- which database errors are an outage -------------------------------------------------------


def wrapped(driver_error: Exception, invalidated: bool = False) -> OperationalError:
    """The driver's OperationalError as SQLAlchemy raises it."""
    return OperationalError("SELECT 1", {}, driver_error, connection_invalidated=invalidated)


def test_refused_postgres_connection_is_an_outage() -> None:
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert is_unavailable(wrapped(refused))


def test_postgres_shutting_down_or_starting_is_an_outage() -> None:
    assert is_unavailable(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_unavailable(wrapped(psycopg.errors.CannotConnectNow("starting up")))


def test_connection_lost_mid_statement_is_an_outage() -> None:
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    assert is_unavailable(wrapped(lost, invalidated=True))


def test_serialization_failure_is_not_an_outage() -> None:
    assert not is_unavailable(wrapped(psycopg.errors.SerializationFailure("could not serialize")))


def test_locked_sqlite_database_is_not_an_outage() -> None:
    assert not is_unavailable(wrapped(sqlite3.OperationalError("database is locked")))
