"""The ingestion clients: threads sending back to back on keep-alive connections, and their tally."""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import numpy as np


@dataclass
class ClientTally:
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    crashed: str | None = None


def acknowledged_items(path: str, response: httpx.Response, items: int) -> tuple[int, str | None]:
    """(items created, why not all were) for one answer; a duplicate counts as an error here,
    since every item of the bench is new."""
    if response.status_code >= 300:
        return 0, f"{response.status_code} {response.text[:300]}"
    if path == "/v1/sightings":  # 201 created, 200 duplicate
        return (1, None) if response.status_code == 201 else (0, f"{response.status_code}")
    body = response.json()
    created = int(body["created"])
    if created == items:
        return created, None
    problems = [
        i.get("problem") or i["outcome"] for i in body["items"] if i["outcome"] != "created"
    ]
    return created, f"{items - created} of {items} not created: {problems[:2]}"


def drive(
    base_url: str,
    key: str,
    build: Callable[[], tuple[str, bytes, dict[str, str], int]],
    clients: int,
    seconds: float,
) -> tuple[list[ClientTally], float]:
    """`clients` threads sending back to back until `seconds` have passed; the wall time runs
    until the last request started in time has been answered."""
    tallies = [ClientTally() for _ in range(clients)]
    start_line = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(tally: ClientTally) -> None:
        try:
            session(tally)
        except BaseException as exc:
            # A client that dies must not leave the others waiting at the start line.
            tally.crashed = repr(exc)
            start_line.abort()

    def session(tally: ClientTally) -> None:
        with httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(600.0),
        ) as http:
            http.get("/healthz").raise_for_status()  # open the keep-alive connection first
            start_line.wait()
            while time.perf_counter() < deadline[0]:
                path, body, headers, items = build()
                sent = time.perf_counter()
                try:
                    response = http.post(path, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    tally.latencies.append(time.perf_counter() - sent)
                    tally.errors += items
                    tally.samples.append(repr(exc))
                    continue
                tally.latencies.append(time.perf_counter() - sent)
                created, problem = acknowledged_items(path, response, items)
                tally.acknowledged += created
                if problem is not None:
                    tally.errors += items - created
                    if len(tally.samples) < 3:
                        tally.samples.append(problem)

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in tallies]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    try:
        start_line.wait(timeout=120)
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join(timeout=10)
        raise RuntimeError(
            f"a client failed: {[t.crashed for t in tallies if t.crashed]}"
        ) from None
    for thread in threads:
        thread.join()
    if crashed := [t.crashed for t in tallies if t.crashed]:
        raise RuntimeError(f"clients failed: {crashed}")
    return tallies, time.perf_counter() - started


def scenario_result(
    name: str, tallies: Sequence[ClientTally], wall: float, cores: dict[str, float]
) -> dict[str, Any]:
    latencies = np.array([s for t in tallies for s in t.latencies]) * 1000
    acknowledged = sum(t.acknowledged for t in tallies)
    return {
        "scenario": name,
        "requests": len(latencies),
        "acknowledged": acknowledged,
        "errors": sum(t.errors for t in tallies),
        "error_samples": [s for t in tallies for s in t.samples][:5],
        "wall_seconds": wall,
        "sightings_per_second": acknowledged / wall,
        "requests_per_second": len(latencies) / wall,
        "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
        "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None,
        "cores": cores,
    }
