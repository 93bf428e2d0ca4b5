"""Row ids for the tables written at crawler rate: UUID version 7 (RFC 9562), time-ordered."""

import os
import time
from uuid import UUID

_VERSION_7 = 0x7 << 76
_VERSION_MASK = 0xF << 76
_VARIANT_RFC = 0x2 << 62
_VARIANT_MASK = 0x3 << 62


def uuid7() -> UUID:
    """48 bits of Unix milliseconds, then 74 random bits around the version and variant. A new
    id lands at the right edge of the primary key's B-tree, where a random UUID would touch a
    random leaf page per insert, and soon one no cache holds. Still unguessable: its random bits
    come from os.urandom. Not uuid6.uuid7: that one orders ids within a millisecond by adding a
    millisecond per id, which at thousands of ids per second runs minutes ahead of the clock."""
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    return UUID(int=value & ~_VERSION_MASK & ~_VARIANT_MASK | _VERSION_7 | _VARIANT_RFC)
