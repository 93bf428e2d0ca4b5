"""Engines and sessions: SQLite (WAL) or PostgreSQL behind one URL, and after-commit hooks."""

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

SessionFactory = sessionmaker[Session]

_AFTER_COMMIT = "leaksentinel.after_commit"
_ON_END = "leaksentinel.on_end"

# Seconds a new PostgreSQL connection may take. Without a bound, a request that finds the server
# unreachable (a dropped route rather than a refused port) waits for the operating system's TCP
# timeout, minutes; with it, the request fails fast and is answered 503.
CONNECT_TIMEOUT_SECONDS = 5

# SQLSTATEs that say the server is away or cannot take the connection, not that the statement
# was wrong: connection exceptions (class 08), shutdowns and start-up (57P01-57P03), too many
# connections. Serialization failures and deadlocks are OperationalErrors too, but not outages.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping drops connections that died with the server, so once it is back the next
        # checkout connects anew and the service recovers without a restart.
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args
        )

    if parsed.database and parsed.database != ":memory:":
        private_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the API acknowledges it, even across power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def private_file(path: Path) -> None:
    """Creates `path` empty, readable by its owner only (0600), in a folder made 0700 if it is
    missing, unless the file exists. The database holds keys' hashes, webhook endpoints and leak
    evidence; SQLite gives its journal and WAL files the mode of the database file."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def make_session_factory(engine: Engine) -> SessionFactory:
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)

    @event.listens_for(factory, "after_commit")
    def _run_after_commit(session: Session) -> None:
        for callback in session.info.pop(_ON_END, []):
            callback()
        for callback in session.info.pop(_AFTER_COMMIT, []):
            callback()

    @event.listens_for(factory, "after_rollback")
    def _drop_after_commit(session: Session) -> None:
        for callback in session.info.pop(_ON_END, []):
            callback()
        session.info.pop(_AFTER_COMMIT, None)

    return factory


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Runs `callback` once the session's transaction has committed; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def on_transaction_end(session: Session, callback: Callable[[], None]) -> None:
    """Runs `callback` when the session's transaction ends, committed or rolled back."""
    session.info.setdefault(_ON_END, []).append(callback)


def gate_writes(session: Session) -> None:
    """On SQLite, waits for this database's writer gate and holds it until the transaction ends.
    SQLite's own busy handler lets a waiting writer sleep up to 100 ms between tries, so under
    load its one write lock sits idle between writers; a flock on a file beside the database
    hands it over the moment it is free, across threads and processes alike. Other databases
    queue writers themselves: nothing to do."""
    url = session.get_bind().engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    if _GATE in session.info:
        return
    # One open file per holder: flock excludes open files, so threads of one process wait too.
    gate = os.open(f"{url.database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(gate, fcntl.LOCK_EX)
    session.info[_GATE] = gate

    def release() -> None:
        os.close(session.info.pop(_GATE))

    on_transaction_end(session, release)


_GATE = "leaksentinel.writer_gate"


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """One unit of work: commits if the block returns, rolls back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database is unreachable (down, restarting, refusing
    connections), so the same request may succeed later, rather than a fault of the statement.
    SQLite's "database is locked" is not this: the file is there and a writer holds it."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError) or not type(exc.orig).__module__.startswith("psycopg"):
        return False
    state: str | None = getattr(exc.orig, "sqlstate", None)
    # No SQLSTATE: it failed on the client's side of the wire (refused, reset, timed out) before
    # any server answered.
    return state is None or state.startswith(_UNAVAILABLE_STATES)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
