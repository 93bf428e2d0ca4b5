"""Caps on request bodies, enforced while they stream in, before any of it is parsed: bytes for
every body, and for a JSON body also how many values it can hold."""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

# FastAPI parses a JSON body on the event loop, where a 1 MiB body of a third of a million
# empty lists holds every other request for 135 ms (2-core machine, bench/hostile_bodies.py).
# What it costs grows with the values it creates, so that count is capped too, from bytes alone:
# a legitimate body of the largest schema (fingerprints: ~13 bytes a value) stays under it at
# 1 MiB, and the costliest shape (`[[],[],...]`) parses within ~40 ms at the cap.
MAX_JSON_VALUES = 100_000


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def json_values_bound(text: bytes | str) -> int:
    """An upper bound on the values and member names a JSON text holds: every one but the first
    follows a `,`, `:`, `[` or `{`. Counted at C speed, a few ms a MiB."""
    if isinstance(text, str):
        return 1 + sum(text.count(c) for c in ",:[{")
    return 1 + sum(text.count(c) for c in (b",", b":", b"[", b"{"))


def _content_type(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media
    return None


def _is_json(content_type: bytes | None) -> bool:
    # FastAPI reads a body without a content type as JSON too.
    return (
        content_type is None
        or content_type == b"application/json"
        or content_type.endswith(b"+json")
    )


class BodySizeLimit:
    """Refuses a declared Content-Length over the cap before reading a byte, and stops reading
    an undeclared (chunked) body as soon as it passes the cap. Multipart uploads get `max_bytes`
    (or their path's own cap); any other body `max_other_bytes` (or its path's own cap in
    `json_per_path`), and a JSON one is read whole and refused when it could hold more than
    MAX_JSON_VALUES values: what parsing costs, however many bytes the path admits."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_other_bytes: int,
        per_path: dict[str, int] | None = None,
        json_per_path: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_other_bytes = max_other_bytes
        self.per_path = per_path or {}
        self.json_per_path = json_per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = _content_type(scope)
        if content_type == b"multipart/form-data":
            limit = self.per_path.get(scope["path"], self.max_bytes)
        else:
            limit = self.json_per_path.get(scope["path"], self.max_other_bytes)
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    detail = BodyTooLarge(limit).detail
                    await problem(413, "body-too-large", detail)(scope, receive, send)
                    return
                has_body = has_body or value != b"0"
            elif name == b"transfer-encoding":
                has_body = True
        if has_body and _is_json(content_type):
            await self._json(scope, receive, send, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; nobody is left to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await problem(413, "body-too-large", BodyTooLarge(limit).detail)(
                    scope, receive, send
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_values_bound(body) > MAX_JSON_VALUES:
            detail = f"the JSON body may hold at most {MAX_JSON_VALUES} values"
            await problem(413, "body-too-complex", detail)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
