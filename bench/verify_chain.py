"""How long `leaksentinel verify` takes as the sighting chain grows: the routine run (from the
last head found intact) after a fixed number of new sightings, against the full walk, on one
database that grows in steps. Sightings go in through the service's own hash-only path, so the
chain is the one the server writes.

    .venv/bin/python -m bench.verify_chain --steps 50000 100000 200000 --added 10000
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from service.access.actors import Actor, Role
from service.evidence import chain
from service.ingest import sightings
from service.runtime import Runtime, close, open_runtime, start
from service.settings import Settings
from storage.db import transaction

BATCH = 256  # the most one request may hold
CRAWLER = Actor(key_id=None, name="bench", role=Role.CRAWLER)


def _add(runtime: Runtime, count: int, offset: int) -> None:
    for start_at in range(0, count, BATCH):
        items = [
            sightings.HashOnlySubmission(
                sightings.SightingSource(
                    f"https://s{(offset + start_at + i) % 97}.example.com/{offset + start_at + i}"
                ),
                [("pdq", "original", os.urandom(32).hex())],
            )
            for i in range(min(BATCH, count - start_at))
        ]
        with transaction(runtime.sessions) as session:
            sightings.submit_fingerprints(runtime, session, CRAWLER, items)


def _timed_verify(runtime: Runtime, *, full: bool) -> tuple[float, chain.ChainReport]:
    started = time.perf_counter()
    with transaction(runtime.sessions) as session:
        report = chain.verify(session, full=full, now=runtime.clock())
    assert report.intact, report.fault
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--added", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'chain.db'}"
        settings = Settings(_env_file=None, database_url=url, data_dir=Path(folder))  # type: ignore[call-arg]
        runtime = open_runtime(settings)
        start(runtime)
        try:
            total = 0
            print(
                "| records before | added | routine verify s | records walked | full verify s | full / routine |"
            )
            print("|---|---|---|---|---|---|")
            for step in args.steps:
                _add(runtime, step - args.added - total, total)
                total = step - args.added
                _timed_verify(runtime, full=True)  # the head the routine run starts from
                _add(runtime, args.added, total)
                total = step
                routine, report = _timed_verify(runtime, full=False)
                full, _ = _timed_verify(runtime, full=True)
                print(
                    f"| {step - args.added:,} | {args.added:,} | {routine:.2f} | {report.records:,} "
                    f"| {full:.2f} | {full / routine:.1f}x |",
                    flush=True,
                )
        finally:
            close(runtime)


if __name__ == "__main__":
    main()
