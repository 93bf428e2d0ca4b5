"""This process's replica of the match index: the index itself, the database generation it
reflects, and how long ago it was last known to be current."""

import logging
import threading
import time
from collections.abc import Callable

from sqlmodel import Session

from service.detection.hashes import Fingerprint
from service.detection.index import MatchIndex
from storage.db import SessionFactory, after_commit
from storage.repositories import assets as assets_repo
from storage.repositories import index_state

log = logging.getLogger(__name__)


class IndexReplica:
    """Every asset change bumps a generation number in the database in the same transaction;
    a replica whose generation differs reloads. So every process matches against the same
    assets, whichever one took the change."""

    def __init__(self, index: MatchIndex | None = None) -> None:
        self.index = index if index is not None else MatchIndex()
        self.generation = -1  # the database generation the index reflects; -1 until loaded
        self._lock = threading.Lock()
        # time.monotonic() when the index was last known to be at the database's generation,
        # and when this replica was made: its lag is measured from them.
        self.current_at: float | None = None
        self.started_at = time.monotonic()

    @property
    def loaded(self) -> bool:
        return self.generation >= 0

    def load(self, sessions: SessionFactory) -> None:
        with self._lock, sessions() as session:
            # Read before the rows: a write landing in between only causes one more reload.
            checked_at = time.monotonic()
            generation = index_state.current(session)
            self.index.replace_all(
                (row.asset_id, Fingerprint(row.algorithm, row.variant, row.bits))
                for row in assets_repo.active_fingerprints(session)
            )
            self.generation = generation
            self.current_at = checked_at
        log.info(
            "match index loaded: %d assets, %d fingerprints",
            self.index.asset_count,
            len(self.index),
        )

    def ensure_current(self, sessions: SessionFactory, session: Session) -> None:
        """Reloads if any process changed the assets since the index was loaded: one
        primary-key read through `session` when nothing changed."""
        checked_at = time.monotonic()
        if index_state.current(session) != self.generation:
            self.load(sessions)
        else:
            self.current_at = checked_at

    def change(self, session: Session, change: Callable[[MatchIndex], None]) -> None:
        """Announces an asset change to every process and applies it here once committed, so
        the asset is matchable in this process at once without a reload."""
        generation = index_state.bump(session)

        def apply() -> None:
            with self._lock:
                change(self.index)
                if self.generation == generation - 1:
                    self.generation = generation
                    self.current_at = time.monotonic()

        after_commit(session, apply)

    def lag_seconds(self, database_generation: int) -> float:
        """How far the index is behind a database at `database_generation`: 0 when it is at it
        (which counts as a check that it is current); otherwise the seconds since it was last
        known current. Every change it lacks committed after that moment, so this bounds the
        true lag from above."""
        if self.loaded and database_generation == self.generation:
            self.current_at = time.monotonic()
            return 0.0
        if self.current_at is None:
            # Never loaded: behind by as long as this process has been up.
            return time.monotonic() - self.started_at
        return time.monotonic() - self.current_at
