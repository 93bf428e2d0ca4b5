"""Opaque cursors and pages for every list the service returns."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from service.errors import InvalidCursor

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(ts: datetime, row_id: UUID, order: str = "") -> str:
    """`order` names the sort the cursor belongs to, so it cannot be replayed against another."""
    fields = [ts.isoformat(), str(row_id), *([order] if order else [])]
    raw = json.dumps(fields).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, order: str = "") -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, id_text, *rest = json.loads(raw)
        if rest != ([order] if order else []):
            raise ValueError("a cursor of another sort order")
        ts = datetime.fromisoformat(ts_text)
        if ts.tzinfo is None:
            raise ValueError("naive cursor time")
        return ts, UUID(id_text)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this service issued") from exc


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
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this service issued") from exc


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))
