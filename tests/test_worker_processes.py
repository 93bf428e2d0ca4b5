"""Two worker processes of one real server agree at once on a new asset and on its retiring."""

import os
import ssl
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from testing.server import Server, issue_keys
from tests.api_client import auth
from tests.leaked_asset import asset_form, leaked_copy, leaks_of

pytestmark = pytest.mark.slow

COPIES_ACROSS_WORKERS = 30
# One TLS context for the many short-lived clients below (the URLs are plain http): each new
# client would otherwise load the CA bundle, some 40 ms.
TLS = ssl.create_default_context()


def worker_processes(server: Server) -> list[int]:
    """The uvicorn workers under the server's supervisor process (not multiprocessing's
    resource tracker, its other child)."""
    assert server.process is not None
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if parent == server.process.pid and b"--multiprocessing-fork" in cmdline:
            workers.append(int(stat.parent.name))
    return sorted(workers)


def client_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def worker_behind(response: httpx.Response, server: Server, workers: list[int]) -> int | None:
    """Which worker holds the server end of the connection a response came on: the socket's
    inode from /proc/net/tcp, then the worker with that inode among its open files."""
    ends = f"0100007F:{server.port:04X} 0100007F:{client_port(response):04X}"
    inode = next(
        (
            fields[9]
            for fields in map(str.split, Path("/proc/net/tcp").read_text().splitlines()[1:])
            if f"{fields[1]} {fields[2]}" == ends
        ),
        None,
    )
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def send_via(
    worker: int, server: Server, workers: list[int], method: str, path: str, **request: Any
) -> httpx.Response:
    """Sends one request on a fresh connection that `worker` accepted. The kernel picks the
    worker that accepts, so connect until it is this one, then reuse that connection."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with httpx.Client(base_url=server.base_url, timeout=60, verify=TLS) as http:
            probe = http.get("/healthz")
            if worker_behind(probe, server, workers) == worker:
                response = http.request(method, path, **request)
                # Same connection as the probe, so the same worker answered.
                assert client_port(response) == client_port(probe)
                return response
        time.sleep(0.01)
    raise AssertionError(f"worker {worker} accepted no connection within 60 s")


def test_two_worker_processes_see_a_new_asset_at_once(
    server_env: dict[str, str], database_url: str, tmp_path: Path, bootstrap_key: str
) -> None:
    server = Server(server_env, tmp_path / "server.log", workers=2)
    server.start()
    try:
        deadline = time.monotonic() + 30
        while len(workers := worker_processes(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2, f"worker processes under the server: {workers}"
        first, second = workers
        keys = issue_keys(server.base_url, bootstrap_key)

        registered = send_via(
            first,
            server,
            workers,
            "POST",
            "/v1/assets",
            headers=auth(keys["marketing"]),
            **asset_form(),
        )
        assert registered.status_code == 201, registered.text
        asset_id = registered.json()["id"]

        def sight(worker: int, page: str) -> None:
            response = send_via(
                worker,
                server,
                workers,
                "POST",
                "/v1/sightings",
                files={"file": ("found.jpg", leaked_copy(), "image/jpeg")},
                data={"page_url": page},
                headers=auth(keys["crawler"]),
            )
            assert response.status_code == 201, response.text

        # No pause after registering: the other worker must match the new asset at once,
        # and both workers must add to the one report.
        for n in range(COPIES_ACROSS_WORKERS):
            sight(second if n % 2 == 0 else first, f"https://site{n}.example.com/leak")
        [leak] = leaks_of(server.base_url, keys["security"], asset_id, database_url)
        assert leak["sightings_count"] == COPIES_ACROSS_WORKERS, leak

        retired = send_via(
            second,
            server,
            workers,
            "PATCH",
            f"/v1/assets/{asset_id}",
            json={"status": "retired"},
            headers=auth(keys["marketing"]),
        )
        assert retired.status_code == 200, retired.text
        sight(first, "https://after-retiring.example.com/leak")
        [still] = leaks_of(server.base_url, keys["security"], asset_id, database_url)
        assert (still["id"], still["sightings_count"]) == (leak["id"], COPIES_ACROSS_WORKERS)
    finally:
        server.stop()
