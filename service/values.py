"""Checks on the plain values every caller sends: text, instants. Done here, once, so that no
store ever sees a value it cannot hold (a NUL in PostgreSQL text, a date past year 9999)."""

import unicodedata
from datetime import UTC, datetime

from service.errors import InvalidInput

# Whitespace a multi-line note may keep; every other control character is refused.
NOTE_WHITESPACE = frozenset("\n\r\t")


def text(value: str, field: str, *, max_length: int, multiline: bool = False) -> str:
    """`value` stripped, once it is known to hold no control characters and fit `max_length`."""
    allowed = NOTE_WHITESPACE if multiline else frozenset()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise InvalidInput(f"{field} contains a control character")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters")
    return value


def instant(moment: datetime, field: str) -> datetime:
    """`moment` in UTC, once it is known to carry an offset and to exist in UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a UTC offset, e.g. 2027-03-01T09:00:00+01:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{field} is out of range") from exc
