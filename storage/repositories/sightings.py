"""Sighting rows and their matches against assets."""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import insert, tuple_
from sqlmodel import Session, col, select

from storage.models import Sighting, SightingMatch


def add_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """One multi-row INSERT of plain column values: no ORM object per row, so a batch of a
    hundred costs little more than one row."""
    if rows:
        session.execute(insert(Sighting), list(rows))


def existing(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Sighting]:
    """The stored sightings among these (page key, content key) pairs."""
    if not keys:
        return {}
    pair = tuple_(col(Sighting.page_key), col(Sighting.content_key))
    statement = select(Sighting).where(pair.in_(set(keys)))
    return {(s.page_key, s.content_key): s for s in session.exec(statement)}


def get(session: Session, sighting_id: UUID) -> Sighting | None:
    return session.get(Sighting, sighting_id)


def add_match(session: Session, match: SightingMatch) -> None:
    session.add(match)
    session.flush()
