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
import csv
import datetime
import itertools
import json
import multiprocessing
import os
import platform
import random
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import imagehash
import numpy as np
from PIL import Image, ImageOps

from bench.speed import SPEED_FRAME, SPEED_QUALITY
from bench.transforms import jpeg_bytes
from service.ingest.sightings import fingerprint_locally
from service.settings import Settings
from testing.server import Server

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("leaksentinel"))
BOUNDARY = "leaksentinel-bench-" + "7" * 20
SCENARIOS = ("single", "batch", "hash")


# ---------------------------------------------------------------------------------------------
# The machine, and CPU accounting from /proc (the machine is shared, so the reader needs to see
# how much of it the server, the client and everyone else used during each scenario)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot, all cores together."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds used by every live process of one process group (the server and its workers),
    including children they have already reaped."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[2]) == pgid:
            total += sum(int(v) for v in rest[11:15])  # utime stime cutime cstime
    return total / TICK


@dataclass
class CpuSnapshot:
    wall: float
    client: float
    server: float
    machine: float

    @classmethod
    def take(cls, server_pgid: int) -> "CpuSnapshot":
        return cls(
            time.perf_counter(),
            time.process_time(),
            group_cpu_seconds(server_pgid),
            machine_busy_seconds(),
        )

    def cores_since(self, start: "CpuSnapshot") -> dict[str, float]:
        """Average cores busy between two snapshots: this process, the server, and everyone else
        (other engineers' processes, and time the hypervisor gave to other machines)."""
        wall = self.wall - start.wall
        client = (self.client - start.client) / wall
        server = (self.server - start.server) / wall
        machine = (self.machine - start.machine) / wall
        return {
            "client": client,
            "server": server,
            "other": max(0.0, machine - client - server),
            "machine": machine,
        }


# ---------------------------------------------------------------------------------------------
# Images


def pick_photos(
    images: Path, count: int, assets: int, leaking: int, seed: int
) -> tuple[list[Path], list[Path]]:
    """(found images, asset photos): `leaking` of the assets are among the found images."""
    with (images / "manifest.csv").open(newline="") as handle:
        files = [images / row["file"] for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(files)
    found = files[:count]
    others = files[count : count + assets - leaking]
    if len(found) < count or len(others) < assets - leaking:
        raise SystemExit(f"{images} has only {len(files)} photos")
    return found, found[:leaking] + others


def frame_1080p(path: Path) -> bytes:
    """The speed recipe of bench/speed.py: fitted to 1920x1080, Lanczos, JPEG q90."""
    with Image.open(path) as image:
        frame = ImageOps.fit(image.convert("RGB"), SPEED_FRAME, Image.Resampling.LANCZOS)
    return jpeg_bytes(frame, SPEED_QUALITY)


def hash_only_fields(data: bytes) -> bytes:
    """The JSON members of one hash-only item besides its page URL, computed once per image."""
    local = fingerprint_locally(data, Settings(_env_file=None).image_limits)  # type: ignore[call-arg]
    prints = [
        {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
        for f in local.prints.fingerprints
    ]
    return json.dumps({"sha256": local.sha256, "fingerprints": prints})[1:-1].encode()


def with_comment(data: bytes, n: int) -> list[bytes | memoryview]:
    """The JPEG with a COM segment naming `n` right after SOI: new bytes, hence a new SHA-256
    and a new evidence blob, and the same pixels. As chunks, so the file is not copied twice."""
    tag = b"leaksentinel-bench %020d" % n
    return [data[:2], b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag, memoryview(data)[2:]]


# ---------------------------------------------------------------------------------------------
# Request bodies, encoded by hand: httpx's multipart encoder would copy and scan every file on
# every request, and the client shares the server's two cores


def _field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def _file_head(name: str, filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
        f'name="{name}"; filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"Content-Type": "application/json"}
CLOSE = f"--{BOUNDARY}--\r\n".encode()


def page_url(n: int) -> str:
    # Spread over many domains, as a crawl is; n is unique in the run, so no page repeats.
    return f"https://news{n % 97}.bench.example/story/{n}"


@dataclass
class Workload:
    """Per scenario: how to build one request body, and what a request carries."""

    uploads: list[bytes]
    hash_items: list[bytes]
    batch: int
    hash_batch: int
    counter: Iterator[int] = field(default_factory=itertools.count)

    def single(self) -> tuple[str, bytes, dict[str, str], int]:
        n = next(self.counter)
        parts = [
            _field("page_url", page_url(n)),
            _file_head("file", "found.jpg"),
            *with_comment(self.uploads[n % len(self.uploads)], n),
            b"\r\n",
            CLOSE,
        ]
        return "/v1/sightings", b"".join(parts), MULTIPART, 1

    def batch_upload(self) -> tuple[str, bytes, dict[str, str], int]:
        numbers = [next(self.counter) for _ in range(self.batch)]
        manifest = [{"filename": f"{n}.jpg", "page_url": page_url(n)} for n in numbers]
        parts: list[bytes | memoryview] = [_field("manifest", json.dumps(manifest))]
        for n in numbers:
            parts += [
                _file_head("files", f"{n}.jpg"),
                *with_comment(self.uploads[n % len(self.uploads)], n),
                b"\r\n",
            ]
        parts.append(CLOSE)
        return "/v1/sightings/batch", b"".join(parts), MULTIPART, self.batch

    def hash_only(self) -> tuple[str, bytes, dict[str, str], int]:
        items = []
        for _ in range(self.hash_batch):
            n = next(self.counter)
            url = page_url(n).encode()
            fields = self.hash_items[n % len(self.hash_items)]
            items.append(b'{"page_url":"' + url + b'",' + fields + b"}")
        body = b'{"items":[' + b",".join(items) + b"]}"
        return "/v1/sightings/fingerprints", body, JSON, self.hash_batch

    def builder(self, scenario: str) -> Callable[[], tuple[str, bytes, dict[str, str], int]]:
        return {"single": self.single, "batch": self.batch_upload, "hash": self.hash_only}[scenario]


# ---------------------------------------------------------------------------------------------
# The server


@contextmanager
def fresh_database(url: str | None) -> Iterator[str | None]:
    """None for SQLite in the data folder; else a new database on that PostgreSQL server."""
    if url is None:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"bench_{secrets.token_hex(6)}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# ---------------------------------------------------------------------------------------------
# Load


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
# Set-up and checks through the API


def admin_key(env: dict[str, str]) -> str:
    """The first admin key, from the CLI before the server starts. Not through
    LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY: with --workers 2 on an empty database both workers insert
    that key at start, and the one that loses the race (UNIQUE api_keys.secret_hash) stops the
    whole server."""
    done = subprocess.run(
        [CLI, "keys", "create", "--role", "admin", "--name", "bench"],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


def setup_keys(base_url: str, admin: str) -> dict[str, str]:
    made = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin}"}) as http:
        for role in ("marketing", "crawler"):
            response = http.post("/v1/keys", json={"name": f"bench {role}", "role": role})
            response.raise_for_status()
            made[role] = response.json()["key"]
    return made


def register_assets(base_url: str, key: str, photos: Sequence[tuple[Path, bytes]]) -> None:
    embargo = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:
        for path, data in photos:
            response = http.post(
                "/v1/assets",
                files={"file": (path.name, data, "image/jpeg")},
                data={
                    "name": f"{path.parent.name}/{path.name}",
                    "product": "bench",
                    "embargo_until": embargo.isoformat(),
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"asset {path}: {response.status_code} {response.text}")


def drain_seconds(base_url: str, key: str, timeout: float = 600.0) -> float:
    """Seconds from the end of the load until no sighting waits to be matched: matching runs
    after the receipt (service/ingest/match_queue.py), so a load the matcher cannot keep up with shows
    here, not in the receipts' rate."""
    started = time.monotonic()
    pending = re.compile(rb"^leaksentinel_pending_matches (\S+)$", re.MULTILINE)
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        while time.monotonic() - started < timeout:
            found = pending.search(http.get("/metrics").content)
            if found is not None and float(found.group(1)) == 0:
                return time.monotonic() - started
            time.sleep(0.1)
    raise RuntimeError(f"sightings still waited to be matched {timeout:.0f} s after the load")


def leaked_sightings(base_url: str, key: str) -> tuple[int, int]:
    """(leak reports, sightings in them): proof that matching ran against the index."""
    reports = sightings = 0
    cursor = None
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = http.get("/v1/leaks", params=params)
            response.raise_for_status()
            page = response.json()
            reports += len(page["items"])
            sightings += sum(item["sightings_count"] for item in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return reports, sightings


def verify(env: dict[str, str]) -> tuple[bool, int | None, str]:
    """`leaksentinel verify` on the run's database: (passed, records in the chain, its words)."""
    done = subprocess.run(
        [CLI, "verify"],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = (done.stdout + done.stderr).strip()
    counted = re.search(r"chain intact: (\d+) records", output)
    return done.returncode == 0, int(counted[1]) if counted else None, output


# ---------------------------------------------------------------------------------------------
# Report


def fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ratio(rate: float, base: float) -> str:
    return f"{rate / base:.2f}x" if base == base else ""  # NaN when the baseline was skipped


def report(run: dict[str, Any]) -> str:
    base, base_cpu = run["baseline_images_per_second"], run["baseline_images_per_cpu_second"]
    lines = [
        f"Machine: {run['machine']['cores']} cores, {run['machine']['cpu']}, "
        f"Python {run['machine']['python']}; {run['date']}.",
        f"Command: `{run['command']}`",
        f"Server: `leaksentinel serve --workers {run['workers']}` on {run['database']}; "
        f"{run['clients']} clients, {run['warmup']:g} s warm-up then {run['duration']:g} s per "
        f"scenario; {run['images']} distinct 1080p JPEGs (mean {run['mean_bytes'] / 1024:,.0f} "
        f"KiB), {run['assets']} assets ({run['leaking']} of them among the found images).",
        "",
        "| scenario | requests | sightings acknowledged | sightings / s | requests / s | "
        "p50 ms | p99 ms | errors | vs baseline | per CPU-second | vs baseline per CPU-second "
        "| cores: server / client / others |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, b in (("before", run["baseline_before"]), ("after", run["baseline_after"])):
        if b is not None:
            lines.append(
                f"| baseline {label}: decode + pHash, {b['processes']} processes | | "
                f"{b['images']:,} images | {b['images_per_second']:,.1f} | | | | | "
                f"{ratio(b['images_per_second'], base)} | {b['images_per_cpu_second']:,.1f} | "
                f"{ratio(b['images_per_cpu_second'], base_cpu)} | "
                f"{b['cores']['baseline']:.2f} (baseline) / - / {b['cores']['other']:.2f} |"
            )
    for s in run["scenarios"]:
        c = s["cores"]
        per_cpu = s["sightings_per_second"] / c["server"] if c["server"] else float("nan")
        lines.append(
            f"| {s['label']} | {s['requests']:,} | {s['acknowledged']:,} | "
            f"{s['sightings_per_second']:,.1f} | {s['requests_per_second']:,.1f} | "
            f"{fmt(s['p50_ms'])} | {fmt(s['p99_ms'])} | {s['errors']} | "
            f"{ratio(s['sightings_per_second'], base)} | {per_cpu:,.1f} | "
            f"{ratio(per_cpu, base_cpu)} | "
            f"{c['server']:.2f} / {c['client']:.2f} / {c['other']:.2f} |"
        )
    lines += [
        "",
        f"Baseline for the ratios: {base:,.1f} images/s and {base_cpu:,.1f} images per CPU-second "
        "(means of before and after). Per CPU-second: sightings (or images) per second over the "
        "cores the server (or the baseline's processes) used in that time; it is the fairer "
        "ratio when other work takes part of the machine. Targets (issue 4): uploads >= 2x "
        "baseline, hash-only >= 5,000 sightings/s.",
        f"Check: `leaksentinel verify` {'passed' if run['verify_ok'] else 'FAILED'}: "
        f"{run['verify_output']}; sightings acknowledged in the run, warm-ups included: "
        f"{run['acknowledged_total']:,}"
        + (" (equal)." if run["verify_records"] == run["acknowledged_total"] else " (MISMATCH)."),
        f"Matching ran: {run['leak_sightings']:,} sightings in {run['leak_reports']} leak "
        f"reports (the found images of the {run['leaking']} leaking assets); matching caught up "
        f"{run.get('drain_seconds', 0):.1f} s after the last scenario's load ended.",
    ]
    for s in run["scenarios"]:
        for sample in s["error_samples"]:
            lines.append(f"- {s['scenario']} error: {sample}")
    return "\n".join(lines)


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
