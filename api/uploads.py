"""Multipart uploads received straight into the blob store's incoming files: a found image never
sits whole in a serving process's memory, neither spooled, nor read back, nor pickled for a
decode worker, which reads the file itself; `BlobStore.put` links a kept one into place."""

from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import Request, Response, UploadFile
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Receive, Scope

from storage.blobs import BlobStore


def content(file: UploadFile) -> Path:
    """What the service is handed for a file a ReceivingRoute received: its incoming file."""
    return Path(file.file.name)


class ReceivingRoute(APIRoute):
    """A route whose multipart file parts are written to incoming files as they arrive."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def receiving_handler(request: Request) -> Response:
            return await handler(_ReceivingRequest(request.scope, request.receive))

        return receiving_handler


class _ReceivingRequest(Request):
    def __init__(self, scope: Scope, receive: Receive) -> None:
        super().__init__(scope, receive)
        self.blobs: BlobStore = scope["app"].state.runtime.blobs

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        # Starlette's one place for choosing a form parser: private, so a Starlette upgrade that
        # moves it fails test_uploaded_files_reach_the_decode_workers_as_files_not_bytes.
        content_type, _ = parse_options_header(self.headers.get("Content-Type"))
        if self._form is not None or content_type != b"multipart/form-data":
            return await super()._get_form(
                max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
        try:
            async with aclosing(self.stream()) as stream:
                parser = _ReceivingParser(
                    self.headers,
                    stream,
                    self.blobs,
                    max_files=max_files,
                    max_fields=max_fields,
                    max_part_size=max_part_size,
                )
                self._form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(status_code=400, detail=exc.message) from exc
        return self._form


class _ReceivingParser(MultiPartParser):
    """Starlette's parser, with each file part written to an incoming file of `blobs` from the
    request's own chunks (no slice copied out of them). The writes happen on the event loop, as
    Starlette's own writes to its in-memory spool do: into the page cache, not to the disk."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        blobs: BlobStore,
        **limits: Any,
    ) -> None:
        super().__init__(headers, stream, **limits)
        self.blobs = blobs

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None:
            part.file.file.close()  # the in-memory spool Starlette made for it, still empty
            received = self.blobs.receive()
            # Closing it (with the form, after the response, or on a parse error) deletes it.
            self._files_to_close_on_error.append(received)  # type: ignore[arg-type]
            part.file = _IncomingUpload(
                received, size=0, filename=part.file.filename, headers=part.file.headers
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self._current_part.file
        if not isinstance(upload, _IncomingUpload):  # a field, not a file
            super().on_part_data(data, start, end)
            return
        upload.append(memoryview(data)[start:end])

    def on_part_end(self) -> None:
        upload = self._current_part.file
        if upload is not None:
            # The decode worker opens it by name: what was written must be in the file.
            upload.file.flush()
        super().on_part_end()


class _IncomingUpload(UploadFile):
    """An upload received into an incoming file. Starlette seeks a file once its part ends and
    closes it with the form, through its threadpool unless the file is a spool still in memory:
    two thread hops per file, which took a quarter of a serving process's Python time under
    batch uploads (py-spy). A seek and a close (one unlink) cost less than the hop, and the
    parser writes these files on the event loop already, so they are done there too."""

    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        # Looked up once: the temporary file's wrapper makes a new proxy function on every
        # attribute access, which per 32 KiB chunk showed in the profile.
        self._write = file.write

    def append(self, chunk: memoryview) -> None:
        self._write(chunk)
        self.size = (self.size or 0) + len(chunk)

    @property
    def _in_memory(self) -> bool:
        return True
