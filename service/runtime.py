"""The long-lived parts one process shares: settings, database, match index, blob store, clock."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service import keys
from service.fingerprints import Fingerprint
from service.index import MatchIndex
from service.settings import Settings
from storage import migrate
from storage.blobs import BlobStore
from storage.db import SessionFactory, make_engine, make_session_factory, ping, transaction
from storage.repositories import assets as assets_repo
from storage.types import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    blobs: BlobStore
    index: MatchIndex = field(default_factory=MatchIndex)
    clock: Clock = utcnow
    index_loaded: bool = False

    @property
    def max_distance(self) -> dict[str, int]:
        return {"pdq": self.settings.pdq_max_distance, "phash": self.settings.phash_max_distance}


def open_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        blobs=BlobStore(settings.blob_path),
        clock=clock or utcnow,
    )


def start(runtime: Runtime) -> None:
    """Migrates, creates the bootstrap admin key if asked to, and loads the match index."""
    migrate.upgrade_to_head(runtime.engine)
    if runtime.settings.bootstrap_admin_key:
        with transaction(runtime.sessions) as session:
            if keys.bootstrap_admin(session, runtime.settings.bootstrap_admin_key):
                log.info("created the bootstrap admin key")
    load_index(runtime)


def load_index(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        runtime.index.replace_all(
            (row.asset_id, Fingerprint(row.algorithm, row.variant, row.bits))
            for row in assets_repo.active_fingerprints(session)
        )
    runtime.index_loaded = True
    log.info(
        "match index loaded: %d assets, %d fingerprints",
        runtime.index.asset_count,
        len(runtime.index),
    )


def close(runtime: Runtime) -> None:
    runtime.engine.dispose()


def readiness(runtime: Runtime) -> dict[str, bool]:
    """Ready means: the database answers, its schema is at head, the index is loaded."""
    try:
        ping(runtime.engine)
        at_head = migrate.is_at_head(runtime.engine)
    except SQLAlchemyError:
        log.warning("readiness: database unreachable", exc_info=True)
        return {"database": False, "migrations": False, "index": runtime.index_loaded}
    return {"database": True, "migrations": at_head, "index": runtime.index_loaded}
