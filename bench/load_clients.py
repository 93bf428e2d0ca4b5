"""The load benchmark's clients: crawlers and security readers, and the ledger of what they saw."""

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import httpx2 as httpx

from bench.ingest_workload import Workload

WRITES = ("single", "batch", "hash")
READS = ("leaks", "leak", "sources")
# A crawler that finds the server gone (kill mode) waits this long before trying again.
RETRY_PAUSE_SECONDS = 0.2


@dataclass
class Sample:
    kind: str
    sent: float
    seconds: float
    status: int | None  # None: no answer (connection refused or cut off)
    items: int  # sightings sent (writes) or 0 (reads)
    acknowledged: int


@dataclass
class Ledger:
    stop: threading.Event = field(default_factory=threading.Event)
    # Set while the server is down on purpose (kill mode): failures then are expected.
    down: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[Sample] = field(default_factory=list)
    acknowledged: set[UUID] = field(default_factory=set)
    error_samples: list[str] = field(default_factory=list)

    def add(self, sample: Sample, receipts: Sequence[str] = (), problem: str | None = None) -> None:
        with self.lock:
            self.samples.append(sample)
            self.acknowledged.update(UUID(r) for r in receipts)
            if problem is not None and len(self.error_samples) < 8:
                self.error_samples.append(problem)


def receipts_of(kind: str, response: httpx.Response) -> tuple[list[str], str | None]:
    """(ids of the sightings created, why some were not) for a 2xx write answer."""
    body = response.json()
    if kind == "single":
        if response.status_code != 201 or body.get("duplicate"):
            return [], f"single: {response.status_code} duplicate"
        return [body["id"]], None
    created = [i["receipt"]["id"] for i in body["items"] if i["outcome"] == "created"]
    if len(created) != len(body["items"]):
        others = [
            i.get("problem") or i["outcome"] for i in body["items"] if i["outcome"] != "created"
        ]
        return created, f"{kind}: {len(others)} items not created: {others[:2]}"
    return created, None


def crawler(
    number: int,
    base_url: str,
    key: str,
    work: Workload,
    mix: dict[str, int],
    seed: int,
    ledger: Ledger,
) -> None:
    build: dict[str, Callable[[], tuple[str, bytes, dict[str, str], int]]] = {
        "single": work.single,
        "batch": work.batch_upload,
        "hash": work.hash_only,
    }
    kinds, weights = list(mix), list(mix.values())
    rng = random.Random(seed * 1000 + number)
    with keyed_client(base_url, key) as http:
        while not ledger.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            path, body, headers, items = build[kind]()
            sent = time.perf_counter()
            try:
                response = http.post(path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                ledger.add(
                    Sample(kind, sent, time.perf_counter() - sent, None, items, 0),
                    problem=None if ledger.down.is_set() else f"{kind}: {exc!r}",
                )
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            seconds = time.perf_counter() - sent
            if response.status_code >= 300:
                problem = None
                if response.status_code != 429:
                    problem = f"{kind}: {response.status_code} {response.text[:300]}"
                ledger.add(Sample(kind, sent, seconds, response.status_code, items, 0), (), problem)
                if response.status_code in (429, 503):
                    time.sleep(float(response.headers.get("retry-after", "1")))
                continue
            created, problem = receipts_of(kind, response)
            ledger.add(
                Sample(kind, sent, seconds, response.status_code, items, len(created)),
                created,
                problem,
            )


def keyed_client(base_url: str, key: str) -> httpx.Client:
    """One client's keep-alive connection, with its API key."""
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(300.0)
    )


def reader(number: int, base_url: str, key: str, pause: float, ledger: Ledger) -> None:
    rng = random.Random(number)
    leak_ids: list[str] = []
    with keyed_client(base_url, key) as http:
        while not ledger.stop.is_set():
            for kind in READS:
                if kind == "leak" and not leak_ids:
                    continue
                path = {
                    "leaks": "/v1/leaks?limit=50",
                    "leak": f"/v1/leaks/{rng.choice(leak_ids)}" if leak_ids else "",
                    "sources": "/v1/sources?limit=50",
                }[kind]
                sent = time.perf_counter()
                try:
                    response = http.get(path)
                except httpx.HTTPError as exc:
                    ledger.add(
                        Sample(kind, sent, time.perf_counter() - sent, None, 0, 0),
                        problem=None if ledger.down.is_set() else f"{kind}: {exc!r}",
                    )
                    time.sleep(RETRY_PAUSE_SECONDS)
                    continue
                seconds = time.perf_counter() - sent
                problem = None
                if response.status_code >= 300 and response.status_code != 429:
                    problem = f"{kind}: {response.status_code} {response.text[:300]}"
                elif kind == "leaks" and response.status_code == 200:
                    leak_ids = [item["id"] for item in response.json()["items"]] or leak_ids
                ledger.add(Sample(kind, sent, seconds, response.status_code, 0, 0), (), problem)
                time.sleep(pause)
