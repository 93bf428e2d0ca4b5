"""Sustained mixed load on the real server: 50 crawlers and a few security readers at once, with
latency per kind, errors by status, memory growth, and a SIGKILL mode that counts what was lost.

    .venv/bin/python -m bench.load [--crawlers 50] [--readers 3] [--duration 60] [--warmup 10]
        [--workers N] [--mix single=6,batch=2,hash=2] [--batch 8] [--hash-batch 50]
        [--images-dir ../shared/bench-images] [--images 64] [--assets 20] [--leaking 4]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--kill-after SECONDS] [--json [PATH]]

Loopback only, and bounded: it starts `leaksentinel serve --workers N` on a free port with a
fresh database (SQLite in a temporary folder, or a new database on the PostgreSQL server named by
`--database-url`, dropped afterwards), with the helpers and request bodies of
bench/ingest_server.py and bench/ingest_workload.py. Every crawler has its own crawler key, as
real crawlers would; the readers share one security key. The
rate limits are set through the environment (`--crawler-rate-limit`, `--security-rate-limit`,
per key per minute, per process) well above what one such client sends, so a well-behaved run
meets none: a 429 is counted apart from the errors.

Each crawler sends back to back, choosing by `--mix` weights between a single upload
(`POST /v1/sightings`), a batch upload of `--batch` files and a hash-only batch of `--hash-batch`
items (fingerprinted once up front with `service.intake.fingerprint_locally`). Found images are
`--images` bench photos fitted to 1080p JPEG q90; each upload gets a unique JPEG comment and every
item a new page, so nothing is deduplicated. `--assets` bench photos are registered first and
`--leaking` of them are among the found images, so leaks open and grow. Each reader reads
`GET /v1/leaks`, one report with `GET /v1/leaks/{id}`, and `GET /v1/sources`, pausing
`--reader-pause` seconds between reads as a person or a dashboard would.

Requests sent during the first `--warmup` seconds are not measured. Memory is the resident set
(VmRSS in /proc/<pid>/status) summed over the server's process group (the supervisor, its workers
and their helpers), sampled when the warm-up ends, every few seconds, and at the end.

`--kill-after S` SIGKILLs the whole server process group S seconds after the warm-up, starts it
again on the same database and port, and lets the load run on to the end; crawlers that find the
server gone retry after a short pause. Afterwards the run compares every sighting acknowledged
with a 2xx (by receipt id) against the rows in the database, and runs `leaksentinel verify`:
acknowledged-but-lost must be 0, in either mode.
"""

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx

from bench.ingest import add_shared_arguments
from bench.ingest_server import admin_key, fresh_database, register_assets, verify
from bench.ingest_workload import Workload, frame_1080p, hash_only_fields, pick_photos
from bench.load_clients import READS, WRITES, Ledger, Sample, crawler, reader
from bench.load_report import report, status_counts, summarise
from bench.procfs import RSS_FIELDS, CpuSnapshot, cpu_model, group_memory, group_rss_bytes
from testing.server import Server, stored_sighting_ids

REPO_ROOT = Path(__file__).resolve().parent.parent
MEMORY_SAMPLE_SECONDS = 5.0


# ---------------------------------------------------------------------------------------------
# The run


def issue_keys(base_url: str, admin: str, crawlers: int) -> dict[str, Any]:
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {admin}"}, timeout=60
    ) as http:

        def make(role: str, name: str) -> str:
            response = http.post("/v1/keys", json={"name": name, "role": role})
            response.raise_for_status()
            key: str = response.json()["key"]
            return key

        return {
            "marketing": make("marketing", "load marketing"),
            "security": make("security", "load security"),
            "crawlers": [make("crawler", f"load crawler {n}") for n in range(crawlers)],
        }


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in WRITES or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"bad mix entry {part!r}; use e.g. single=6,batch=2")
        mix[kind.strip()] = int(weight)
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("the mix has no weight")
    return {k: v for k, v in mix.items() if v}


def run_load(args: argparse.Namespace, tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    found, asset_photos = pick_photos(
        args.images_dir, args.images, args.assets, args.leaking, args.seed
    )
    cores = os.cpu_count() or 1
    log(f"making {len(found)} 1080p JPEGs and their hash-only items on {cores} cores")
    with multiprocessing.Pool(cores) as pool:
        uploads = pool.map(frame_1080p, found)
        hash_items = pool.map(hash_only_fields, uploads)
        asset_frames = pool.map(frame_1080p, asset_photos)

    with fresh_database(args.database_url) as postgres_url:
        data_dir = tmp / "data"
        database_url = postgres_url or f"sqlite:///{data_dir / 'leaksentinel.db'}"
        env = {
            "LEAKSENTINEL_DATA_DIR": str(data_dir),
            "LEAKSENTINEL_DATABASE_URL": database_url,
            "LEAKSENTINEL_RATE_LIMIT_CRAWLER": str(args.crawler_rate_limit),
            "LEAKSENTINEL_RATE_LIMIT_SECURITY": str(args.security_rate_limit),
        }
        admin = admin_key(env)
        server = Server(env, tmp / "server.log", workers=args.workers)
        log(f"starting {shlex.join(server.command)}")
        server.start()
        ledger = Ledger()
        threads: list[threading.Thread] = []
        kill: dict[str, Any] | None = None
        try:
            keys = issue_keys(server.base_url, admin, args.crawlers)
            register_assets(
                server.base_url,
                keys["marketing"],
                list(zip(asset_photos, asset_frames, strict=True)),
            )
            work = Workload(uploads, hash_items, args.batch, args.hash_batch)
            threads = [
                threading.Thread(
                    target=crawler,
                    args=(n, server.base_url, key, work, args.mix, args.seed, ledger),
                    daemon=True,
                )
                for n, key in enumerate(keys["crawlers"])
            ] + [
                threading.Thread(
                    target=reader,
                    args=(n, server.base_url, keys["security"], args.reader_pause, ledger),
                    daemon=True,
                )
                for n in range(args.readers)
            ]
            log(
                f"load: {args.crawlers} crawlers, {args.readers} readers, warm-up {args.warmup:g} s"
            )
            for thread in threads:
                thread.start()
            time.sleep(args.warmup)
            measure_from = time.perf_counter()
            memory_start = group_memory(server.pid)
            rss_start, processes = memory_start["VmRSS"], memory_start["processes"]
            cpu_start = CpuSnapshot.take(server.pid)
            rss_samples = [(0.0, rss_start)]
            log(f"measuring {args.duration:g} s; server RSS {rss_start / 2**20:,.0f} MiB")
            end = measure_from + args.duration
            kill_at = measure_from + args.kill_after if args.kill_after is not None else None
            while (now := time.perf_counter()) < end:
                if kill_at is not None and kill is None and now >= kill_at:
                    kill = kill_and_restart(server, ledger, log)
                time.sleep(min(MEMORY_SAMPLE_SECONDS, max(0.0, end - now)))
                if kill is None:  # a new process after a kill: growth is not compared across it
                    rss = group_rss_bytes(server.pid)[0]
                    rss_samples.append((time.perf_counter() - measure_from, rss))
            ledger.stop.set()
            memory_end = group_memory(server.pid)
            rss_end = memory_end["VmRSS"]
            # Across a kill the group is a new one, whose CPU time starts again from zero.
            cores = None if kill else CpuSnapshot.take(server.pid).cores_since(cpu_start)
            stopped = time.perf_counter()
            for thread in threads:
                thread.join(timeout=300)
            if server.process is None or server.process.poll() is not None:
                raise RuntimeError(f"the server died; see {server.log_path}")
        finally:
            ledger.stop.set()
            server.stop()
        stored = stored_sighting_ids(database_url)
        verify_ok, verify_records, verify_output = verify(env)

    measured = [s for s in ledger.samples if s.sent >= measure_from]
    wall = max([stopped, *(s.sent + s.seconds for s in measured)]) - measure_from
    writes = [s for s in measured if s.kind in WRITES]
    reads = [s for s in measured if s.kind in READS]
    lost = ledger.acknowledged - stored

    def expected_failure(s: Sample) -> bool:
        """No answer because the server was killed under the request, or before it was back."""
        return (
            kill is not None
            and s.status is None
            and s.sent <= kill["back_at"]
            and s.sent + s.seconds >= kill["killed_at"]
        )

    return {
        "writes": summarise(writes, WRITES, wall),
        "reads": summarise(reads, READS, wall),
        "wall_seconds": wall,
        "statuses_writes": status_counts(writes),
        "statuses_reads": status_counts(reads),
        "rate_limited": sum(1 for s in measured if s.status == 429),
        # A failed request counts once; a 2xx batch counts each item that was not created.
        "errors": sum(
            1
            for s in measured
            if not expected_failure(s)
            and (s.status is None or (s.status >= 300 and s.status != 429))
        )
        + sum(
            s.items - s.acknowledged
            for s in measured
            if s.kind in WRITES and s.status is not None and 200 <= s.status < 300
        ),
        "cut_off_by_kill": sum(1 for s in measured if expected_failure(s)),
        "error_samples": ledger.error_samples,
        "memory": {
            "measured": kill is None,
            "processes": processes,
            "start_mib": rss_start / 2**20,
            "end_mib": rss_end / 2**20,
            "peak_mib": max(b for _, b in rss_samples) / 2**20,
            "growth_percent": 100 * (rss_end - rss_start) / rss_start,
            # Where the growth is: the heap (anonymous), mapped files, shared memory.
            "growth_mib": {
                name: (memory_end[name] - memory_start[name]) / 2**20 for name in RSS_FIELDS
            },
            "samples_mib": [(round(t, 1), round(b / 2**20, 1)) for t, b in rss_samples],
        },
        "kill": kill,
        "cores": cores,
        "acknowledged": len(ledger.acknowledged),
        "stored": len(stored),
        "lost": len(lost),
        "lost_sample": [str(i) for i in list(lost)[:5]],
        "verify_ok": verify_ok,
        "verify_records": verify_records,
        "verify_output": verify_output,
        "images": len(uploads),
        "mean_bytes": sum(map(len, uploads)) / len(uploads),
    }


def kill_and_restart(server: Server, ledger: Ledger, log: Callable[[str], None]) -> dict[str, Any]:
    """SIGKILL to the whole group mid-load: no shutdown hook runs and nothing is flushed."""
    with ledger.lock:
        acknowledged_before = len(ledger.acknowledged)
    ledger.down.set()
    killed_at = time.perf_counter()
    os.killpg(server.pid, signal.SIGKILL)
    assert server.process is not None
    server.process.wait(timeout=30)
    log(f"killed the server ({acknowledged_before:,} sightings acknowledged so far); restarting")
    server.start()
    back_at = time.perf_counter()
    ledger.down.clear()
    log(f"server back after {back_at - killed_at:.1f} s")
    return {
        "acknowledged_before_kill": acknowledged_before,
        "restart_seconds": back_at - killed_at,
        "killed_at": killed_at,
        "back_at": back_at,
    }


# ---------------------------------------------------------------------------------------------
# Report


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_shared_arguments(parser, images=64, batch=8, hash_batch=50, results="load.json")
    parser.add_argument("--crawlers", type=int, default=50)
    parser.add_argument("--readers", type=int, default=3, help="security clients")
    parser.add_argument("--reader-pause", type=float, default=0.5, help="seconds between reads")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first")
    parser.add_argument("--mix", type=parse_mix, default="single=6,batch=2,hash=2")
    parser.add_argument("--crawler-rate-limit", type=int, default=6000, help="per key per minute")
    parser.add_argument("--security-rate-limit", type=int, default=6000, help="per key per minute")
    parser.add_argument(
        "--kill-after", type=float, default=None, help="SIGKILL the server this many seconds in"
    )
    args = parser.parse_args()
    if args.kill_after is not None and not 0 < args.kill_after < args.duration:
        parser.error("--kill-after must fall inside --duration")

    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="leaksentinel-load-") as tmp_name:
        result = run_load(args, Path(tmp_name), log)
    run = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join([".venv/bin/python", "-m", "bench.load", *sys.argv[1:]]),
        "machine": {"cores": cores, "cpu": cpu_model(), "python": platform.python_version()},
        "database": "PostgreSQL (a fresh database)" if args.database_url else "SQLite (WAL)",
        "workers": args.workers,
        "crawlers": args.crawlers,
        "readers": args.readers,
        "reader_pause": args.reader_pause,
        "mix": ",".join(f"{k}={v}" for k, v in args.mix.items()),
        "batch": args.batch,
        "hash_batch": args.hash_batch,
        "duration": args.duration,
        "warmup": args.warmup,
        "assets": args.assets,
        "leaking": args.leaking,
        "crawler_rate_limit": args.crawler_rate_limit,
        "security_rate_limit": args.security_rate_limit,
        "kill_after": args.kill_after,
        "result": result,
    }
    print(report(run))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=2, default=str) + "\n")
        log(f"numbers written to {args.json}")
    if result["lost"] or not result["verify_ok"] or result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
