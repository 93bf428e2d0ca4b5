"""End-to-end ingestion rate: the real server on loopback under concurrent crawlers, beside a
plain decode + pHash loop on the same files measured in the same run.

    .venv/bin/python -m bench.ingest [--clients 8] [--duration 20] [--warmup 3] [--workers N]
        [--images 128] [--assets 20] [--leaking 4] [--scenarios single,batch,hash]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json [PATH]]

It starts `leaksentinel serve --workers N` on a free loopback port with a fresh database (SQLite
in a temporary data folder, or a new `bench_<random>` database on the PostgreSQL server named by
`--database-url`, dropped afterwards), issues keys through the bootstrap admin key and registers
`--assets` bench photos as assets (`--leaking` of them are among the found images, so the leak
path runs too). The found images are `--images` bench photos (manifest.csv, seeded shuffle), each
fitted to 1080p and saved as JPEG q90 like bench/speed.py (robustness.py's speed section).

Three scenarios, each `--warmup` seconds unmeasured, then `--duration` seconds with `--clients`
threads, each with its own keep-alive connection, issuing requests back to back:

- single: `POST /v1/sightings`, one image per request;
- batch: `POST /v1/sightings/batch`, `--batch` images per request;
- hash: `POST /v1/sightings/fingerprints`, `--hash-batch` items per request, fingerprinted once
  up front with `service.sightings.fingerprint_locally` (what a crawler would run).

Every request gets a new page URL per item, and every uploaded file gets a unique JPEG comment, so
nothing is deduplicated and every upload writes its own evidence blob, as distinct found images
would. The baseline is `imagehash.phash(Image.open(path))` over the same 1080p files, one process
per core, for `--duration` seconds, run before and after the scenarios; ratios use their mean.
Afterwards `leaksentinel verify` must pass and count exactly the sightings acknowledged.
"""

import argparse
import datetime
import itertools
import json
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imagehash
from PIL import Image

from bench.ingest_clients import drive, scenario_result
from bench.ingest_report import fmt, report
from bench.ingest_server import (
    admin_key,
    drain_seconds,
    fresh_database,
    leaked_sightings,
    register_assets,
    setup_keys,
    verify,
)
from bench.ingest_workload import Workload, frame_1080p, hash_only_fields, pick_photos
from bench.procfs import CpuSnapshot, cpu_model, machine_busy_seconds
from testing.server import Server

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("single", "batch", "hash")


# ---------------------------------------------------------------------------------------------
# Baseline: a plain decode + pHash loop, one process per core


def _baseline_worker(job: tuple[list[str], int, float, float]) -> tuple[int, float, float]:
    """(images, wall seconds, CPU seconds) of one process's timed loop."""
    paths, offset, start_at, seconds = job
    imagehash.phash(Image.open(paths[offset]))  # warm: imports, allocator, page cache
    time.sleep(max(0.0, start_at - time.monotonic()))
    started, cpu = time.monotonic(), time.process_time()
    count = 0
    for path in itertools.islice(itertools.cycle(paths), offset, None):
        imagehash.phash(Image.open(path))
        count += 1
        if time.monotonic() - started >= seconds:
            break
    return count, time.monotonic() - started, time.process_time() - cpu


def baseline(paths: Sequence[Path], processes: int, seconds: float) -> dict[str, Any]:
    start_at = time.monotonic() + 2.0  # every process forked and warm before anyone starts
    names = [str(p) for p in paths]
    jobs = [(names, i * len(names) // processes, start_at, seconds) for i in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        pending = pool.map_async(_baseline_worker, jobs)
        time.sleep(max(0.0, start_at - time.monotonic()))
        machine, wall = machine_busy_seconds(), time.perf_counter()
        runs = pending.get()
        machine, wall = machine_busy_seconds() - machine, time.perf_counter() - wall
    images = sum(c for c, _, _ in runs)
    cpu = sum(u for _, _, u in runs)
    return {
        "processes": processes,
        "images": images,
        "images_per_second": sum(c / s for c, s, _ in runs),
        "per_process": [c / s for c, s, _ in runs],
        "images_per_cpu_second": images / cpu,
        "cores": {"baseline": cpu / wall, "other": max(0.0, (machine - cpu) / wall)},
    }


# ---------------------------------------------------------------------------------------------


def add_shared_arguments(
    parser: argparse.ArgumentParser, *, images: int, batch: int, hash_batch: int, results: str
) -> None:
    """The flags of bench/ingest.py and bench/load.py alike, with each one's defaults."""
    parser.add_argument(
        "--images-dir", type=Path, default=REPO_ROOT.parent / "shared" / "bench-images"
    )
    parser.add_argument("--images", type=int, default=images, help="distinct found images")
    parser.add_argument("--assets", type=int, default=20, help="bench photos registered")
    parser.add_argument("--leaking", type=int, default=4, help="assets among the found images")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    parser.add_argument("--batch", type=int, default=batch, help="files per batch upload")
    parser.add_argument(
        "--hash-batch", type=int, default=hash_batch, help="items per hash-only request"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to use instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const=REPO_ROOT / "bench" / "results" / results,
        default=None,
        help=f"also write the numbers as JSON (default bench/results/{results})",
    )


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_shared_arguments(parser, images=128, batch=32, hash_batch=100, results="ingest.json")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--no-baseline", action="store_true", help="skip the decode+pHash loop")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")

    command = shlex.join([".venv/bin/python", "-m", "bench.ingest", *sys.argv[1:]])
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    found, asset_photos = pick_photos(
        args.images_dir, args.images, args.assets, args.leaking, args.seed
    )
    log(f"making {len(found)} 1080p JPEGs and their hash-only items on {cores} cores")
    with multiprocessing.Pool(cores) as pool:
        uploads = pool.map(frame_1080p, found)
        hash_items = pool.map(hash_only_fields, uploads)
        asset_frames = pool.map(frame_1080p, asset_photos)

    with tempfile.TemporaryDirectory(prefix="leaksentinel-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files_dir = tmp / "images"
        files_dir.mkdir()
        paths = []
        for i, data in enumerate(uploads):
            paths.append(files_dir / f"{i:04d}.jpg")
            paths[-1].write_bytes(data)

        before = None if args.no_baseline else baseline(paths, cores, args.duration)
        if before:
            log(f"baseline before: {before['images_per_second']:.1f} images/s")

        with fresh_database(args.database_url) as database_url:
            env = {"LEAKSENTINEL_DATA_DIR": str(tmp / "data")}
            if database_url:
                env["LEAKSENTINEL_DATABASE_URL"] = database_url
            admin = admin_key(env)
            server = Server(env, tmp / "server.log", workers=args.workers)
            log(f"starting {shlex.join(server.command)}")
            server.start()
            try:
                made = setup_keys(server.base_url, admin)
                register_assets(
                    server.base_url,
                    made["marketing"],
                    list(zip(asset_photos, asset_frames, strict=True)),
                )
                work = Workload(uploads, hash_items, args.batch, args.hash_batch)
                results = []
                acknowledged_total = 0
                for name in scenarios:
                    build = work.builder(name)
                    if args.warmup > 0:
                        warm, _ = drive(
                            server.base_url, made["crawler"], build, args.clients, args.warmup
                        )
                        acknowledged_total += sum(t.acknowledged for t in warm)
                    start = CpuSnapshot.take(server.pid)
                    tallies, wall = drive(
                        server.base_url, made["crawler"], build, args.clients, args.duration
                    )
                    cores_used = CpuSnapshot.take(server.pid).cores_since(start)
                    if server.process is None or server.process.poll() is not None:
                        raise RuntimeError(f"the server died; see {server.log_path}")
                    result = scenario_result(name, tallies, wall, cores_used)
                    result["label"] = {
                        "single": "single upload",
                        "batch": f"batch upload of {args.batch}",
                        "hash": f"hash-only batch of {args.hash_batch}",
                    }[name]
                    acknowledged_total += result["acknowledged"]
                    results.append(result)
                    log(
                        f"{name}: {result['sightings_per_second']:.1f} sightings/s, "
                        f"p50 {fmt(result['p50_ms'])} ms, errors {result['errors']}"
                    )
                drained = drain_seconds(server.base_url, admin)
                log(f"matching caught up {drained:.1f} s after the load")
                leak_reports, leak_sightings = leaked_sightings(server.base_url, admin)
            finally:
                server.stop()
            verify_ok, verify_records, verify_output = verify(env)

        after = None if args.no_baseline else baseline(paths, cores, args.duration)
        if after:
            log(f"baseline after: {after['images_per_second']:.1f} images/s")

    rates = [b["images_per_second"] for b in (before, after) if b is not None]
    cpu_rates = [b["images_per_cpu_second"] for b in (before, after) if b is not None]
    run = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {"cores": cores, "cpu": cpu_model(), "python": platform.python_version()},
        "database": "PostgreSQL (a fresh database)" if args.database_url else "SQLite (WAL)",
        "workers": args.workers,
        "clients": args.clients,
        "duration": args.duration,
        "warmup": args.warmup,
        "images": len(uploads),
        "mean_bytes": sum(map(len, uploads)) / len(uploads),
        "assets": len(asset_photos),
        "leaking": args.leaking,
        "baseline_before": before,
        "baseline_after": after,
        "baseline_images_per_second": sum(rates) / len(rates) if rates else float("nan"),
        "baseline_images_per_cpu_second": (
            sum(cpu_rates) / len(cpu_rates) if cpu_rates else float("nan")
        ),
        "scenarios": results,
        "acknowledged_total": acknowledged_total,
        "verify_ok": verify_ok,
        "verify_output": verify_output,
        "verify_records": verify_records,
        "drain_seconds": drained,
        "leak_reports": leak_reports,
        "leak_sightings": leak_sightings,
    }
    print(report(run))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=2, default=str) + "\n")
        log(f"numbers written to {args.json}")
    if not verify_ok or verify_records != acknowledged_total or any(s["errors"] for s in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
