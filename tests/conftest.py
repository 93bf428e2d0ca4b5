"""Fixtures: a fresh database per test on each back end (or one per module, `shared_api`), a
settable clock, and an API client with keys for every role."""

import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api.app import create_app
from service.decoding import DecodePool
from service.settings import Settings
from storage import migrate
from storage.db import make_engine
from tests.api_client import Api, SettledClient

POSTGRES_URL = os.environ.get(
    "LEAKSENTINEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("LEAKSENTINEL_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


class Clock:
    """Server time under the test's control; starts at the real present."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A database migrated to head once per run; each test gets a copy (CREATE ... TEMPLATE)."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except OperationalError:
        if REQUIRE_POSTGRES:
            raise
        yield None
        return
    name = f"ls_template_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    migrate.upgrade_to_head(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per run; each test gets a copy of the file, as
    each PostgreSQL test gets a copy of postgres_template."""
    path = tmp_path_factory.mktemp("template") / "leaksentinel.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade_to_head(engine)
    engine.dispose()  # the last connection closing folds the write-ahead log into the file
    return path


class PostgresDatabases:
    """Copies of the template, each made while the test before it runs and dropped after its
    own test while the next one runs: a copy and a drop take about half a second of the server's
    time, as long as a typical test, so doing them in the foreground nearly doubled the run."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        # One thread: creates and drops run in order, never two at once on this worker.
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self.spare = self.worker.submit(self._create)

    def take(self) -> str:
        """A new database at head, for one test; `give_back` drops it."""
        name, self.spare = self.spare.result(), self.worker.submit(self._create)
        return name

    def give_back(self, name: str) -> None:
        self.worker.submit(self._drop, name)

    def close(self) -> None:
        self.give_back(self.spare.result())
        self.worker.shutdown(wait=True)
        self.admin.dispose()

    def _create(self) -> str:
        name = f"ls_test_{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str | None) -> Iterator[PostgresDatabases | None]:
    if postgres_template is None:
        yield None
        return
    databases = PostgresDatabases(postgres_template)
    yield databases
    databases.close()


@contextmanager
def fresh_database(
    backend: str, folder: Path, sqlite_template: Path, postgres: PostgresDatabases | None
) -> Iterator[str]:
    """A new database at head on `backend`, copied from its template; its URL."""
    if backend == "sqlite":
        copy = folder / "leaksentinel.db"
        shutil.copyfile(sqlite_template, copy)
        copy.chmod(0o600)
        yield f"sqlite:///{copy}"
        return
    if postgres is None:
        pytest.skip("PostgreSQL is not reachable at LEAKSENTINEL_TEST_POSTGRES_URL")
    name = postgres.take()
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        postgres.give_back(name)


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, sqlite_template, postgres_databases) as url:
        yield url


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database, migrated to head."""
    engine = make_engine(database_url)
    migrate.upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def bootstrap_key() -> str:
    return "lsk_bootstrap_" + secrets.token_urlsafe(24)


def settings_for(database_url: str, data_dir: Path, bootstrap_key: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        bootstrap_admin_key=bootstrap_key,
        max_upload_bytes=2 * 1024 * 1024,
        max_image_pixels=4_000_000,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path, bootstrap_key: str) -> Settings:
    return settings_for(database_url, tmp_path / "data", bootstrap_key)


@pytest.fixture
def server_env(database_url: str, tmp_path: Path, bootstrap_key: str) -> dict[str, str]:
    """Environment for a real `leaksentinel serve` process on this test's database."""
    return {
        "LEAKSENTINEL_DATA_DIR": str(tmp_path / "data"),
        "LEAKSENTINEL_DATABASE_URL": database_url,
        "LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY": bootstrap_key,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def decode_pool() -> Iterator[DecodePool]:
    """One pool of decode workers for every app of a test process: starting and stopping one per
    app cost about a tenth of a second a test. The defaults of `settings_for`."""
    pool = DecodePool.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    yield pool
    pool.close()


@pytest.fixture
def decoder(decode_pool: DecodePool) -> DecodePool | None:
    """The decode pool the test's app uses; a module that changes the decode settings or the
    workers' jobs overrides this with None, so that its app makes a pool of its own."""
    return decode_pool


@pytest.fixture
def client(settings: Settings, clock: Clock, decoder: DecodePool | None) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock, decoder=decoder)
    with SettledClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, bootstrap_key: str, clock: Clock) -> Api:
    return Api(client, bootstrap_key, clock)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    postgres_databases: PostgresDatabases | None,
    decode_pool: DecodePool,
) -> Iterator[Api]:
    """One database and app for a whole module, on each back end: for tests that each make and
    look at only objects of their own (the role matrix), so that they need not pay for a
    database and an app apiece."""
    folder = tmp_path_factory.mktemp("shared")
    key = "lsk_bootstrap_" + secrets.token_urlsafe(24)
    clock = Clock()
    with fresh_database(request.param, folder, sqlite_template, postgres_databases) as url:
        settings = settings_for(url, folder / "data", key)
        app = create_app(settings, clock=clock, decoder=decode_pool)
        with SettledClient(app, raise_server_exceptions=False) as client:
            yield Api(client, key, clock)
