"""Sightings received and not yet matched: queued with the receipt, taken when matched."""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from storage.db import gate_writes
from storage.models import PendingMatch, Sighting


def add_all(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queues these rows (PendingMatch's columns); their sightings are inserted before them."""
    if rows:
        session.execute(insert(PendingMatch), list(rows))


def take(session: Session, sighting_ids: Collection[UUID]) -> set[UUID]:
    """Deletes these sightings' rows and returns the ids it deleted: the matches of those, and
    only those, are this transaction's to record. A row another worker took first is missing.
    Takes SQLite's writer gate first, as every writer does before its first write."""
    if not sighting_ids:
        return set()
    gate_writes(session)
    taken = session.execute(
        delete(PendingMatch)
        .where(col(PendingMatch.sighting_id).in_(list(sighting_ids)))
        .returning(col(PendingMatch.sighting_id))
    )
    return set(taken.scalars())


def still_queued(session: Session, sighting_ids: Collection[UUID]) -> set[UUID]:
    """Those of these sightings whose rows no worker has taken yet."""
    if not sighting_ids:
        return set()
    found = session.exec(
        select(PendingMatch.sighting_id).where(
            col(PendingMatch.sighting_id).in_(list(sighting_ids))
        )
    )
    return set(found)


def queued_before(
    session: Session, before: datetime | None, limit: int, after: UUID | None = None
) -> list[tuple[PendingMatch, Sighting]]:
    """Rows queued before `before` (all of them for None), oldest sighting first, with their
    sightings; `after` continues from the last sighting id of the previous page."""
    query = select(PendingMatch, Sighting).join(
        Sighting, col(Sighting.id) == col(PendingMatch.sighting_id)
    )
    if before is not None:
        query = query.where(col(PendingMatch.queued_at) < before)
    if after is not None:
        query = query.where(col(PendingMatch.sighting_id) > after)
    found = session.exec(query.order_by(col(PendingMatch.sighting_id)).limit(limit))
    return [(pending, sighting) for pending, sighting in found]


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(PendingMatch)).one())
