"""Multipart uploads received straight into the blob store's incoming files: a found image never
sits whole in a serving process's memory, neither spooled, nor read back, nor pickled for a
decode worker, which reads the file itself; `BlobStore.put` links a kept one into place.

The body is parsed with python-multipart's callback parser over `request.stream()`, and the form
is validated against a pydantic model whose file fields are `ReceivedFile`s: the route declares
what it takes in one model, the OpenAPI document describes the same model, and no framework
internals are involved."""

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, WithJsonSchema
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from storage.blobs import BlobStore

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# As Starlette's form parser bounds them: enough for any batch the service takes (its own item
# limit is lower), few enough that a body of empty parts cannot make a parser of millions.
MAX_FILES = 1000
MAX_FIELDS = 1000
MAX_FIELD_BYTES = 1024 * 1024


class MalformedForm(Exception):
    """The body is not the multipart form the route takes: a 400, whatever the fields held."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class ReceivedFile:
    """One file part, received into an incoming file of the blob store."""

    filename: str
    path: Path
    size: int


# How a model declares a file field: validated as a ReceivedFile, described as binary.
FilePart = Annotated[ReceivedFile, WithJsonSchema({"type": "string", "format": "binary"})]


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The route's `openapi_extra`: the multipart body, described by the model it is parsed into."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


def receiving(model: type[M]) -> Callable[[Request], AsyncIterator[M]]:
    """A dependency that receives the request's form into `model`; the incoming files it made
    are deleted once the request is over (the kept ones are linked into the store by then)."""
    file_fields = {name for name, info in model.model_fields.items() if _is_file(info.annotation)}

    async def dependency(request: Request) -> AsyncIterator[M]:
        blobs: BlobStore = request.app.state.runtime.blobs
        form = _Form(blobs, file_fields)
        try:
            await form.receive(request)
            yield form.validated(model)
        finally:
            form.close()

    return dependency


def _is_file(annotation: object) -> bool:
    """Whether a model field is a FilePart or a list of them."""
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is ReceivedFile


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    file: BinaryIO | None = None
    size: int = 0


class _Form:
    """The parser's callbacks and what they collect: text fields in memory (bounded), file parts
    of the model's file fields written to incoming files as their bytes arrive (on the event
    loop, into the page cache: cheaper than a hop to a thread per chunk), other file parts
    dropped unread."""

    def __init__(self, blobs: BlobStore, file_fields: set[str]) -> None:
        self.blobs = blobs
        self.file_fields = file_fields
        self.fields: dict[str, str] = {}
        self.files: dict[str, list[ReceivedFile]] = {}
        self._open: list[BinaryIO] = []
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._file_count = 0
        self._field_count = 0
        self._complete = False

    async def receive(self, request: Request) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type == b"application/x-www-form-urlencoded":
            # A form that cannot carry files: its fields are read, so that the answer names the
            # missing file as it would for a multipart form without one.
            await self._receive_fields(request)
            return
        if content_type != b"multipart/form-data":
            raise MalformedForm("the body must be multipart/form-data")
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedForm("the multipart/form-data Content-Type names no boundary")
        try:
            parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_end": self._on_end,
                },
            )
            async for chunk in request.stream():
                parser.write(chunk)
        except FormParserError as exc:
            raise MalformedForm(f"the multipart body is malformed: {exc}") from exc
        # python-multipart takes a body cut short without complaint; a file cut short would be
        # decoded (and refused as corrupt) or, worse, kept as evidence in part.
        if not self._complete:
            raise MalformedForm("the multipart body ends before its closing boundary")

    async def _receive_fields(self, request: Request) -> None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FIELD_BYTES:
                raise MalformedForm(
                    f"a form's fields may hold at most {MAX_FIELD_BYTES // 1024} KiB"
                )
        try:
            pairs = parse_qsl(
                body.decode("utf-8", errors="replace"),
                keep_blank_values=True,
                max_num_fields=MAX_FIELDS,
            )
        except ValueError as exc:
            raise MalformedForm(f"a form may hold at most {MAX_FIELDS} fields") from exc
        self.fields.update(pairs)

    def validated(self, model: type[M]) -> M:
        values: dict[str, object] = {}
        for name, info in model.model_fields.items():
            if name in self.file_fields:
                files = self.files.get(name, [])
                if get_origin(info.annotation) is list:
                    values[name] = files
                elif files:
                    values[name] = files[-1]
            elif name in self.fields:
                text = self.fields[name]
                # As an HTML form sends a field left blank: an optional field not given.
                if text or info.is_required():
                    values[name] = text
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    def close(self) -> None:
        for file in self._open:
            try:
                file.close()  # deletes it; a kept one is linked into the store already
            except OSError:
                log.warning("could not delete incoming file %s", file.name, exc_info=True)
        self._open.clear()

    def _on_end(self) -> None:
        self._complete = True

    def _on_part_begin(self) -> None:
        self._part = _Part()
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise MalformedForm('a part\'s Content-Disposition must give its "name"')
        part = self._part
        part.name = options[b"name"].decode("utf-8", errors="replace")
        if b"filename" not in options:
            self._field_count += 1
            if self._field_count > MAX_FIELDS:
                raise MalformedForm(f"a form may hold at most {MAX_FIELDS} fields")
            return
        self._file_count += 1
        if self._file_count > MAX_FILES:
            raise MalformedForm(f"a form may hold at most {MAX_FILES} files")
        part.filename = options[b"filename"].decode("utf-8", errors="replace")
        if part.name not in self.file_fields:
            return  # no file is opened for it, so its bytes are dropped as they arrive
        part.file = self.blobs.receive()
        self._open.append(part.file)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.file is not None:
            # The request's own chunk, not a copy of the slice.
            part.size += part.file.write(memoryview(data)[start:end])
        elif part.filename is None:
            if len(part.data) + end - start > MAX_FIELD_BYTES:
                raise MalformedForm(
                    f"the field {part.name!r} is longer than {MAX_FIELD_BYTES // 1024} KiB"
                )
            part.data += data[start:end]

    def _on_part_end(self) -> None:
        part = self._part
        if part.file is not None:
            # The decode worker opens it by name: what was written must be in the file.
            part.file.flush()
            received = ReceivedFile(part.filename or "", Path(part.file.name), part.size)
            self.files.setdefault(part.name, []).append(received)
        elif part.filename is None:
            self.fields[part.name] = part.data.decode("utf-8", errors="replace")
        self._part = _Part()
