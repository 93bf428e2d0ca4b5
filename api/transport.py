"""uvicorn's HTTP protocol, fed from one read buffer per connection that is reused."""

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# uvicorn's protocol takes each read as a new `bytes` of up to 256 KiB, which `leaksentinel
# serve`'s malloc settings (cli/main.py) map apart: under batch uploads, mapping, faulting in and
# unmapping those pages cost the request processes a fifth of their CPU (bench/README.md).
# Reads of at most READ_SIZE into a buffer kept for the connection hold every buffer of the read
# path (this one; httptools' copy of the body; uvicorn's `bytearray` of unread body, which pauses
# reading past 64 KiB, and its copy out) under malloc's 128 KiB threshold, so their pages are
# reused rather than mapped afresh.
READ_SIZE = 32 * 1024


class ReusedBufferProtocol(asyncio.BufferedProtocol):
    """uvicorn's httptools protocol behind asyncio's BufferedProtocol: the event loop reads into
    the connection's buffer and httptools parses it in place.

    It wraps the protocol rather than subclassing it, because uvloop reads into a buffer only for
    protocols that are not also an `asyncio.Protocol`, as uvicorn's is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.http = HttpToolsProtocol(*args, **kwargs)
        self._buffer = memoryview(bytearray(READ_SIZE))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.http.connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.http.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.http.eof_received()  # type: ignore[func-returns-value]

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        # httptools copies whatever it hands on (URL, headers, body) before it returns, so the
        # buffer is free for the next read.
        self.http.data_received(self._buffer[:nbytes])  # type: ignore[arg-type]


# What `uvicorn.run(http=...)` is given. uvicorn's annotation names asyncio.Protocol, but it only
# builds the class per connection and hands it to the event loop, which takes either kind.
HTTP_PROTOCOL = cast(type[asyncio.Protocol], ReusedBufferProtocol)
