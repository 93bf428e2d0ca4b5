"""A private PostgreSQL cluster to crash and restart; the machine's shared one is never touched."""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testing.server import free_port

PG_BIN = Path(os.environ.get("LEAKSENTINEL_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
REQUIRE_POSTGRES = os.environ.get("LEAKSENTINEL_TEST_REQUIRE_POSTGRES") == "1"


class Cluster:
    """A throwaway PostgreSQL 15 cluster on a free loopback port. postgres refuses to run as
    root, so as root every pg_ctl runs as the `postgres` user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *command: str) -> None:
        subprocess.run(
            [*self.as_owner, *command], check=True, capture_output=True, text=True, timeout=60
        )

    def init(self) -> None:
        self.run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust",
            "--username=postgres", "--no-sync", "--encoding=UTF8",
        )  # fmt: skip

    def start(self) -> None:
        # Speed over durability: fsync off loses nothing when only the server process dies,
        # since what it wrote is still in the operating system's page cache.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=60"
        )
        self.run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def crash(self) -> None:
        """Immediate mode: every backend is killed and no checkpoint is written, as in a crash;
        the next start replays the WAL."""
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")


def missing_cluster_tools() -> str | None:
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        return f"PostgreSQL server binaries are not in {PG_BIN} (set LEAKSENTINEL_TEST_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A new cluster, started, and removed on the way out. Where the PostgreSQL server
    binaries are missing it skips the test (fails it, with LEAKSENTINEL_TEST_REQUIRE_POSTGRES=1)."""
    if reason := missing_cluster_tools():
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}; LEAKSENTINEL_TEST_REQUIRE_POSTGRES=1 makes that a failure")
        pytest.skip(reason)
    # Not tmp_path: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="leaksentinel-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
