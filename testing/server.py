"""Runs the real `leaksentinel serve` in a child process, for tests that restart or kill it."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx2 as httpx
from sqlmodel import Session, select

from storage.db import make_engine
from storage.models import Sighting
from storage.repositories import pending_matches

CLI = str(Path(sys.executable).with_name("leaksentinel"))
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        workers: int = 1,
        *,
        inherit_env: bool = True,
    ) -> None:
        # Without inherit_env, `env` is the whole environment: the caller's own LEAKSENTINEL_*
        # settings (a CI database URL, say) stay out of the server.
        self.env = {**os.environ, **env} if inherit_env else dict(env)
        self.log_path = log_path
        self.port = port or free_port()
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The serving process (the supervisor of its workers with `--workers N`)."""
        assert self.process is not None
        return self.process.pid

    @property
    def command(self) -> list[str]:
        command = [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers != 1:
            # uvicorn's supervisor spawns the workers in this session, so kill() and stop() reach
            # them through the process group too.
            command += ["--workers", str(self.workers)]
        return command

    def start(self, timeout: float = 120.0) -> None:
        # A file, not a pipe: a pipe nobody drains would block the server once it fills.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        # One client for every probe: each new one loads the CA bundle, some 40 ms of CPU.
        with httpx.Client(base_url=self.base_url, timeout=1) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if probe.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what survives was on disk."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running(env: Mapping[str, str], log_path: Path) -> Iterator[Server]:
    server = Server(env, log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def throwaway() -> Iterator[tuple[Server, dict[str, str]]]:
    """A server on SQLite in a temporary folder, with a marketing, a crawler and a security key,
    stopped and removed on the way out: what a benchmark runs against."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        admin = "lsk_bench_" + secrets.token_urlsafe(24)
        env = {
            "LEAKSENTINEL_DATA_DIR": str(tmp / "data"),
            "LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY": admin,
        }
        server = Server(env, tmp / "server.log")
        server.start()
        try:
            yield server, issue_keys(server.base_url, admin)
        finally:
            server.stop()


def issue_keys(base_url: str, bootstrap_key: str) -> dict[str, str]:
    """A marketing, a crawler and a security key, issued through the API with the bootstrap key."""
    keys = {}
    for role in ("marketing", "crawler", "security"):
        response = httpx.post(
            f"{base_url}/v1/keys",
            json={"name": role, "role": role},
            headers={"Authorization": f"Bearer {bootstrap_key}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        keys[role] = response.json()["key"]
    return keys


def verify(env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`leaksentinel verify` on the database `env` names."""
    return subprocess.run(
        [CLI, "verify"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def matched(database_url: str, timeout: float = 60.0) -> None:
    """Waits until the server has matched every sighting it acknowledged (none is left in
    `pending_matches`): what a security analyst sees a moment after the receipts."""
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with Session(engine) as session:
                if pending_matches.count(session) == 0:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"sightings still waited to be matched after {timeout:.0f} s")
            time.sleep(0.02)
    finally:
        engine.dispose()


def settling(database_url: str) -> Callable[[httpx.Response], None]:
    """An httpx response hook: after each sighting posted, waits until it is matched."""

    def hook(response: httpx.Response) -> None:
        request = response.request
        if request.method == "POST" and request.url.path.startswith("/v1/sightings"):
            matched(database_url)

    return hook


def stored_sighting_ids(database_url: str) -> set[UUID]:
    """Every sighting id in the database, read on a connection of its own, as a check after the
    server process is gone or restarted."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return set(session.exec(select(Sighting.id)).all())
    finally:
        engine.dispose()
