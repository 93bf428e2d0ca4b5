"""The long-lived parts one process shares: settings, database, match index, blob store, clock."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from service.access import keys
from service.access.ratelimit import RateLimiter
from service.alerts.sealed import Sealer, seal_plaintext
from service.decoding import DecodePool
from service.detection.matching import MatchPolicy
from service.evidence import chain
from service.ingest.inbox import Inbox
from service.replica import IndexReplica
from service.settings import Settings
from storage import migrate
from storage.blobs import BlobStore
from storage.db import (
    SessionFactory,
    make_engine,
    make_session_factory,
    ping,
    transaction,
)
from storage.group_commit import GroupCommit
from storage.types import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    blobs: BlobStore
    # Decoding and fingerprinting run in its worker processes: bounded to the cores, so a burst
    # of uploads queues instead of making every request slow, and a batch is hashed on every
    # core. Its workers start with the first decode, not with the process.
    decoder: DecodePool
    # False for a pool passed in (open_runtime's `decoder`): whoever made it closes it.
    owns_decoder: bool = True
    replica: IndexReplica = field(default_factory=IndexReplica)
    clock: Clock = utcnow
    # Stops for work running in the background (the outbox worker), called first by close().
    background: list[Callable[[], None]] = field(default_factory=list)
    # Sightings this process committed, handed to its match worker (service/ingest/match_queue.py).
    inbox: Inbox = field(default_factory=Inbox)

    @cached_property
    def policy(self) -> MatchPolicy:
        return self.settings.match_policy

    @cached_property
    def sealer(self) -> Sealer:
        """Seals and opens the webhook signing secrets stored in the database."""
        return Sealer.from_settings(self.settings)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        # Its own monotonic clock, not `clock`: that one is wall time, which tests hold still
        # and which may step back, and a budget must refill however the calendar moves.
        return RateLimiter.from_settings(self.settings)

    @cached_property
    def writes(self) -> GroupCommit[chain.Tail]:
        """Where crawler submissions are written: one transaction for the requests that arrive
        together, so that under load each commit's lock and fsync serve many of them. The group
        is formed once the chain's tail is locked, so it takes in whoever queued meanwhile."""
        return GroupCommit(self.sessions, chain.lock_tail)


def open_runtime(
    settings: Settings, clock: Clock | None = None, decoder: DecodePool | None = None
) -> Runtime:
    """`decoder` shares one pool of decode workers among runtimes in one process (the test
    suite's apps); by default the runtime makes its own from the settings."""
    engine = make_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        blobs=BlobStore(settings.blob_path),
        decoder=decoder or DecodePool.from_settings(settings),
        owns_decoder=decoder is None,
        clock=clock or utcnow,
    )


def start(runtime: Runtime) -> None:
    """Migrates, creates the bootstrap admin key if asked to, seals webhook secrets stored in
    the clear, chains any sightings stored before
    the evidence chain existed, and loads the match index."""
    migrate.upgrade_to_head(runtime.engine)
    if runtime.settings.bootstrap_admin_key:
        try:
            with transaction(runtime.sessions) as session:
                if keys.bootstrap_admin(session, runtime.settings.bootstrap_admin_key):
                    log.info("created the bootstrap admin key")
        except IntegrityError:
            # `serve --workers N` starts N processes at once on an empty database: one of them
            # creates the key, the others find it taken, which is the outcome they wanted.
            log.info("the bootstrap admin key was created by another process")
    with transaction(runtime.sessions) as session:
        if count := seal_plaintext(session, runtime.sealer):
            log.info("sealed %d webhook secrets stored in the clear", count)
    with transaction(runtime.sessions) as session:
        if sealed := chain.seal_unchained(session):
            log.info("appended %d sightings from before the evidence chain to it", sealed)
    if swept := runtime.blobs.sweep_incoming():
        log.info("deleted %d incoming upload files left by a stopped process", swept)
    runtime.replica.load(runtime.sessions)


def close(runtime: Runtime) -> None:
    while runtime.background:
        runtime.background.pop()()
    if runtime.owns_decoder:
        runtime.decoder.close()
    runtime.engine.dispose()


def readiness(runtime: Runtime) -> dict[str, bool]:
    """Ready means: the database answers, its schema is at head, the index is loaded."""
    try:
        ping(runtime.engine)
        at_head = migrate.is_at_head(runtime.engine)
    except SQLAlchemyError:
        log.warning("readiness: database unreachable", exc_info=True)
        return {"database": False, "migrations": False, "index": runtime.replica.loaded}
    return {"database": True, "migrations": at_head, "index": runtime.replica.loaded}
