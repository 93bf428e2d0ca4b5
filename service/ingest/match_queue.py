"""The match decision, off the request path: a receipt commits its sighting with what it is
searched with queued beside it (`queue_at_commit`); this process's match worker searches the
index for them a moment later and records leaks, taking the queued rows in the same commit.

A crawler's answer therefore costs the same whether or not its picture matched: the search,
the geometric verification a candidate draws, and the leak, alert and history rows a match
writes all happen after the answer is sent. Nothing is lost by a stop in between: the rows stay
queued, and the next start (or, for a process that died, any other process after ORPHAN_AGE)
matches them."""

import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from service.desk import decision
from service.detection.features import LocalFeatures
from service.detection.hashes import Fingerprint, SightingPrints
from service.detection.matching import AssetMatch, find_matches_many
from service.ingest.inbox import Received
from service.runtime import Runtime
from storage.db import after_commit, transaction
from storage.models import PendingMatch, Sighting
from storage.repositories import pending_matches as pending_repo

log = logging.getLogger(__name__)

# Matched and recorded in one search and one commit at most: a burst of receipts is matched in
# few commits, and each commit stays short for the crawler writes queued behind it.
MAX_BATCH = 64
# A row queued this long ago that no worker has taken belongs to a process that stopped without
# matching it; any process matches it then. Long enough that a live process under load is not
# second-guessed, short against the minutes a leak takes to spread.
ORPHAN_AGE = timedelta(seconds=30)
SWEEP_INTERVAL = 5.0  # seconds between looks for such rows


def queue_at_commit(runtime: Runtime, session: Session, received: Sequence[Received]) -> None:
    """Queues these new sightings (already inserted in `session`) for matching; once the
    transaction commits, this process's worker is handed them."""
    if not received:
        return
    pending_repo.add_all(session, [_row(item) for item in received])
    after_commit(session, lambda: runtime.inbox.put(received))


def _row(item: Received) -> dict[str, object]:
    prints = item.prints
    return {
        "sighting_id": item.id,
        "fingerprints": [[p.algorithm, p.variant, p.hex] for p in prints.fingerprints],
        "local_features": prints.local.to_bytes() if prints.local is not None else None,
        "low_information": prints.low_information,
        "queued_at": item.received_at,
    }


def match_and_record(runtime: Runtime, received: Sequence[Received]) -> int:
    """Searches the index for these sightings and, in one commit, takes their queued rows and
    records the matches of those it took; returns how many it took (a row another process took
    first is skipped, its matches being that process's to record)."""
    with runtime.sessions() as session:
        # A sweep may have taken some already (another process's, or this one's after a stall):
        # searching for those again would be work thrown away.
        queued = pending_repo.still_queued(session, [r.id for r in received])
        received = [r for r in received if r.id in queued]
        if not received:
            return 0
        runtime.replica.ensure_current(runtime.sessions, session)
    found = find_matches_many(runtime.replica.index, [r.prints for r in received], runtime.policy)

    # A transaction of its own, not a share of the crawlers' group commit: a crawler's answer
    # never waits for the leak, alert and history rows of someone else's match.
    with transaction(runtime.sessions) as session:
        taken = pending_repo.take(session, [r.id for r in received])
        matches: list[tuple[decision.Seen, AssetMatch]] = [
            (item, match)
            for item, item_matches in zip(received, found, strict=True)
            if item.id in taken
            for match in item_matches
        ]
        decision.record_matches(session, matches, base_url=runtime.settings.public_base_url)
    return len(taken)


def match_queued(runtime: Runtime, before: datetime | None) -> int:
    """Matches every row queued before `before` (all of them for None), page by page, but those
    handed to this process's own workers; returns how many this process took."""
    taken, after = 0, None
    while True:
        held = runtime.inbox.held()
        with runtime.sessions() as session:
            page = pending_repo.queued_before(session, before, MAX_BATCH, after)
            received = [_received(p, s) for p, s in page if p.sighting_id not in held]
        if not page:
            return taken
        taken += match_and_record(runtime, received)
        after = page[-1][0].sighting_id


def _received(pending: PendingMatch, sighting: Sighting) -> Received:
    local = pending.local_features
    prints = SightingPrints(
        tuple(Fingerprint.from_hex(a, v, h) for a, v, h in pending.fingerprints),
        pending.low_information,
        LocalFeatures.from_bytes(local) if local is not None else None,
    )
    return Received(
        sighting.id, sighting.content_key, sighting.received_at, sighting.found_at, prints
    )


class MatchWorker:
    """Matches what this process's requests queued, as they commit; the first of a process's
    workers also looks now and then for what a stopped process left queued."""

    def __init__(self, runtime: Runtime, *, sweeps: bool = True) -> None:
        self.runtime = runtime
        self.sweeps = sweeps

    def run(self, stop: threading.Event) -> None:
        inbox = self.runtime.inbox
        if self.sweeps:
            # What was queued before this process started: left by a stop, or (rarely) queued
            # by another process a moment ago, which then finds it taken.
            self._sweep(None)
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        while not stop.is_set():
            batch = inbox.take(MAX_BATCH, timeout=SWEEP_INTERVAL)
            if batch:
                try:
                    self._match(batch)
                finally:
                    inbox.done(batch)
            if self.sweeps and time.monotonic() >= next_sweep and not stop.is_set():
                self._sweep(self.runtime.clock() - ORPHAN_AGE)
                next_sweep = time.monotonic() + SWEEP_INTERVAL

    def _match(self, batch: Sequence[Received]) -> None:
        try:
            match_and_record(self.runtime, batch)
        except Exception:
            # Still queued in the database: matched by a sweep once ORPHAN_AGE has passed.
            log.exception("matching %d sightings failed; they stay queued", len(batch))

    def _sweep(self, before: datetime | None) -> None:
        try:
            if taken := match_queued(self.runtime, before):
                log.info("matched %d sightings left queued", taken)
        except Exception:
            log.exception("matching the sightings left queued failed; the next sweep retries")


def start_background(runtime: Runtime) -> None:
    """Runs this process's match workers (`match_workers`, else one per core) in threads until
    the runtime closes."""
    stop = threading.Event()
    count = runtime.settings.match_workers or os.cpu_count() or 1
    threads = [
        threading.Thread(
            target=MatchWorker(runtime, sweeps=n == 0).run,
            args=(stop,),
            name=f"match-worker-{n}",
            daemon=True,
        )
        for n in range(count)
    ]

    def halt() -> None:
        stop.set()
        runtime.inbox.close()
        for thread in threads:
            thread.join(timeout=30)
            if thread.is_alive():
                log.warning("a match worker did not stop in time; what it held stays queued")

    runtime.background.append(halt)
    for thread in threads:
        thread.start()
