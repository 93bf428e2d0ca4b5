"""Hostile JSON bodies against a real server, while another client probes /healthz: how fast and
how small each refusal is, and how long the probe waits meanwhile (issue 19, item 3).

It starts `leaksentinel serve` on a free loopback port with SQLite in a temporary folder, issues
keys, registers one asset, then runs two phases of `--seconds` each: a quiet one
(the probe alone: the baseline) and a hostile one, where a second client sends, in turn, each
body below to each JSON route that takes a list:

- `million`: `{"<list field>": [1, 1, ...]}` with a million items (2 MB), the body that once got
  a 139 MB answer after 13 s;
- `empty-lists`: 200,000 empty lists under the JSON byte cap, the costliest values to parse;
- `deep`: a list nested 100,000 deep.

Reported: per body, the statuses, median and largest time to the whole answer and its largest
size; for the probe, its median, 99th percentile and largest wait in each phase. Times are wall
clock on this machine (2 cores, shared), from one client thread each.

    .venv/bin/python -m bench.hostile_bodies [--seconds 20]
"""

import argparse
import statistics
import threading
import time
from typing import Any

import httpx2 as httpx

from testing.images import jpeg
from testing.server import throwaway

MILLION = b"[" + b"1," * 999_999 + b"1]"
EMPTY_LISTS = b"[" + b"[]," * 199_999 + b"[]]"
DEEP = b"[" * 100_000 + b"]" * 100_000
BODIES = {"million": MILLION, "empty-lists": EMPTY_LISTS, "deep": DEEP}


def _probe(base_url: str, stop: threading.Event, waits: list[float]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get("/healthz")
            waits.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            time.sleep(0.005)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _phase(base_url: str, seconds: float, hostile: list[tuple[str, str, str, str, str]]) -> Any:
    stop, waits = threading.Event(), []
    probe = threading.Thread(target=_probe, args=(base_url, stop, waits))
    probe.start()
    sent: dict[tuple[str, str], list[tuple[int, float, int]]] = {}
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, timeout=60) as client:
        if not hostile:
            time.sleep(seconds)
        while hostile and time.monotonic() < deadline:
            for route, method, url, key, field in hostile:
                for name, items in BODIES.items():
                    body = b'{"' + field.encode() + b'": ' + items + b"}"
                    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
                    started = time.perf_counter()
                    response = client.request(method, url, content=body, headers=headers)
                    took = time.perf_counter() - started
                    sent.setdefault((route, name), []).append(
                        (response.status_code, took, len(response.content))
                    )
    stop.set()
    probe.join()
    return waits, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with throwaway() as (server, keys):
        base = server.base_url
        asset = httpx.post(
            f"{base}/v1/assets",
            files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
            data={"name": "bench", "product": "bench", "embargo_until": "2099-01-01T00:00:00Z"},
            headers={"authorization": f"Bearer {keys['marketing']}"},
            timeout=60,
        )
        assert asset.status_code == 201, asset.text
        asset_id = asset.json()["id"]
        hostile = [
            ("hash-only", "POST", "/v1/sightings/fingerprints", keys["crawler"], "items"),
            (
                "asset-fingerprints",
                "POST",
                "/v1/assets/fingerprints",
                keys["marketing"],
                "fingerprints",
            ),
            (
                "asset-patch",
                "PATCH",
                f"/v1/assets/{asset_id}",
                keys["marketing"],
                "embargo_until",
            ),
            ("webhook", "POST", "/v1/webhooks", keys["security"], "events"),
        ]
        quiet, _ = _phase(base, args.seconds, [])
        loud, sent = _phase(base, args.seconds, hostile)

    print("| /healthz probe | probes | median ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for label, waits in (("quiet (probe alone)", quiet), ("while hostile bodies are sent", loud)):
        print(
            f"| {label} | {len(waits)} | {1000 * statistics.median(waits):.1f} | "
            f"{1000 * _quantile(waits, 0.99):.1f} | {1000 * max(waits):.1f} |"
        )
    print()
    print("| route | body | sent | statuses | median ms | max ms | largest answer, bytes |")
    print("|---|---|---|---|---|---|---|")
    for (route, name), answers in sent.items():
        statuses = ", ".join(sorted({str(s) for s, _, _ in answers}))
        times = [t for _, t, _ in answers]
        print(
            f"| {route} | {name} | {len(answers)} | {statuses} | "
            f"{1000 * statistics.median(times):.1f} | {1000 * max(times):.1f} | "
            f"{max(b for _, _, b in answers)} |"
        )


if __name__ == "__main__":
    main()
