"""Opaque cursors and pages for every list the service returns."""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from service.errors import InvalidCursor

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(ts: datetime, row_id: UUID, order: str = "") -> str:
    """`order` names the sort the cursor belongs to, so it cannot be replayed against another."""
    return encode_keys((ts,), row_id, order)


def decode_cursor(cursor: str | None, order: str = "") -> tuple[datetime, UUID] | None:
    decoded = decode_keys(cursor, 1, order)
    if decoded is None:
        return None
    (ts,), row_id = decoded
    return ts, row_id


def encode_keys(times: Sequence[datetime], row_id: UUID, order: str = "") -> str:
    """A cursor for a sort on several times before the id: `encode_cursor` with more keys."""
    fields = [*(t.isoformat() for t in times), str(row_id), *([order] if order else [])]
    raw = json.dumps(fields).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_keys(
    cursor: str | None, count: int, order: str = ""
) -> tuple[tuple[datetime, ...], UUID] | None:
    """The `count` times and the id of a cursor `encode_keys` made for the sort `order`."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ValueError("not a list of strings")
        if fields[count + 1 :] != ([order] if order else []):
            raise ValueError("a cursor of another sort order")
        if len(fields) < count + 1:
            raise ValueError("a cursor of another sort")
        return tuple(_instant(text) for text in fields[:count]), UUID(fields[count])
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise InvalidCursor("the cursor is not one this service issued") from exc


def _instant(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError("naive cursor time")
    return ts


def encode_offset(offset: int) -> str:
    """For ranked lists (aggregates re-ranked as data arrives), where no key is stable."""
    return base64.urlsafe_b64encode(json.dumps(["offset", offset]).encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, offset = json.loads(raw)
        if tag != "offset" or not isinstance(offset, int) or offset < 0:
            raise ValueError("not an offset cursor")
        return offset
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise InvalidCursor("the cursor is not one this service issued") from exc


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))


def split_page(rows: Sequence[R], size: int) -> tuple[list[R], R | None]:
    """A page read as `size + 1` rows: the `size` it shows, and the last of those when there is
    a next page (the row its cursor continues after), else None."""
    shown = list(rows[:size])
    return shown, (shown[-1] if len(rows) > size and shown else None)
