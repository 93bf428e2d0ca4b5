"""The HTTP protocol `serve` runs (api/transport.py), under uvicorn on a real socket."""

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

from api.transport import HTTP_PROTOCOL, READ_SIZE

pytestmark = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])


class EchoApp:
    """Answers with the body's length and SHA-256, after taking it slowly enough that unread body
    piles up in the protocol; notes the size of every chunk it was handed."""

    def __init__(self) -> None:
        self.chunk_sizes: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        digest, length, more = hashlib.sha256(), 0, True
        while more:
            await asyncio.sleep(0.002)
            message = await receive()
            body = message.get("body", b"")
            self.chunk_sizes.append(len(body))
            digest.update(body)
            length += len(body)
            more = message.get("more_body", False)
        answer = f"{length} {digest.hexdigest()}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})


@contextmanager
def serving(app: EchoApp, loop: str) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=HTTP_PROTOCOL, loop=loop, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_bodies_arrive_whole_over_one_connection(loop: str) -> None:
    app = EchoApp()
    bodies = [bytes(range(256)) * (4 * 1024), b"", b"x" * (READ_SIZE + 1), b"small"]
    with serving(app, loop) as url, httpx.Client(base_url=url) as client:
        for body in bodies:  # one keep-alive connection: the buffer is reused across requests
            answer = client.post("/", content=body)
            assert answer.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"


def test_no_body_chunk_outgrows_the_read_buffer(loop: str) -> None:
    # The point of the protocol: whatever the app is slow to read, no buffer on the way reaches
    # malloc's 128 KiB threshold (uvicorn pauses reading once it holds more than 64 KiB).
    app = EchoApp()
    body = b"\x5a" * (4 << 20)
    with serving(app, loop) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/", content=body)
    assert answer.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
    assert max(app.chunk_sizes) <= HIGH_WATER_LIMIT + READ_SIZE
    assert len(app.chunk_sizes) > 1
