"""Leak report rows, their sightings and their history."""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar
from uuid import UUID

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from storage.db import gate_writes
from storage.models import Asset, Leak, LeakEvent, Sighting, SightingMatch
from storage.repositories._paging import Position, after, after_keys


@dataclass(frozen=True)
class LeakFilter:
    status: str | None = None
    asset_id: UUID | None = None
    product: str | None = None
    domain: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class LeakRow:
    leak: Leak
    asset: Asset
    first_sighting: Sighting


def add(session: Session, leak: Leak) -> Leak:
    session.add(leak)
    session.flush()
    return leak


def get(session: Session, leak_id: UUID, *, for_update: bool = False) -> Leak | None:
    """With `for_update`, the row is the caller's until its transaction ends (on SQLite, which
    has no row locks, by the writer gate): a read-modify-write sees the last committed move."""
    if for_update:
        gate_writes(session)
    return session.get(Leak, leak_id, with_for_update=for_update)


def latest_with_status_of(
    session: Session, asset_ids: Iterable[UUID], statuses: Collection[str]
) -> dict[UUID, Leak]:
    """Per asset among `asset_ids`, its newest report in one of `statuses`, the rows locked."""
    statement = (
        select(Leak)
        .where(col(Leak.asset_id).in_(list(asset_ids)), col(Leak.status).in_(statuses))
        .order_by(col(Leak.created_at).desc())
        .with_for_update()
    )
    latest: dict[UUID, Leak] = {}
    for leak in session.exec(statement):
        latest.setdefault(leak.asset_id, leak)
    return latest


def _rows(leak_filter: LeakFilter) -> Select[Leak, Asset, Sighting]:
    statement = (
        select(Leak, Asset, Sighting)
        .join(Asset, col(Asset.id) == col(Leak.asset_id))
        .join(Sighting, col(Sighting.id) == col(Leak.first_sighting_id))
    )
    return _filtered(statement, leak_filter)


class _Narrowable(Protocol):
    def where(self, *whereclause: Any) -> Self: ...


S = TypeVar("S", bound=_Narrowable)


def _filtered(statement: S, leak_filter: LeakFilter) -> S:
    """`statement` (which joins Asset) narrowed to the leaks `leak_filter` describes."""
    f = leak_filter
    if f.status is not None:
        statement = statement.where(Leak.status == f.status)
    if f.asset_id is not None:
        statement = statement.where(Leak.asset_id == f.asset_id)
    if f.product is not None:
        statement = statement.where(Asset.product == f.product)
    if f.since is not None:
        statement = statement.where(col(Leak.last_seen_at) >= f.since)
    if f.until is not None:
        statement = statement.where(col(Leak.first_seen_at) <= f.until)
    if f.domain is not None:
        seen_on_domain = (
            select(SightingMatch.id)
            .join(Sighting, col(Sighting.id) == col(SightingMatch.sighting_id))
            .where(SightingMatch.leak_id == Leak.id, Sighting.domain == f.domain)
            .exists()
        )
        statement = statement.where(seen_on_domain)
    return statement


def page(
    session: Session,
    leak_filter: LeakFilter,
    *,
    position: Position | None,
    limit: int,
    earliest_first: bool = False,
) -> list[LeakRow]:
    """Newest activity first, or, with `earliest_first`, by first publication, oldest first."""
    statement = _rows(leak_filter)
    key = col(Leak.first_seen_at) if earliest_first else col(Leak.last_seen_at)
    cursor_filter = after(key, col(Leak.id), position, descending=not earliest_first)
    if cursor_filter is not None:
        statement = statement.where(cursor_filter)
    if earliest_first:
        statement = statement.order_by(key, col(Leak.id))
    else:
        statement = statement.order_by(key.desc(), col(Leak.id).desc())
    statement = statement.limit(limit)
    return [LeakRow(leak, asset, first) for leak, asset, first in session.exec(statement)]


def totals(session: Session, leak_filter: LeakFilter) -> dict[str, int]:
    """Leaks per status under `leak_filter`, its status aside."""
    statement = select(Leak.status, func.count()).join(Asset, col(Asset.id) == col(Leak.asset_id))
    statement = _filtered(statement, replace(leak_filter, status=None)).group_by(col(Leak.status))
    return {status: count for status, count in session.exec(statement)}


def get_row(session: Session, leak_id: UUID) -> LeakRow | None:
    statement = _rows(LeakFilter()).where(Leak.id == leak_id)
    found = session.exec(statement).first()
    return LeakRow(*found) if found else None


def domains_by_leak(session: Session, leak_ids: Collection[UUID]) -> dict[UUID, list[str]]:
    if not leak_ids:
        return {}
    statement = (
        select(SightingMatch.leak_id, Sighting.domain)
        .join(Sighting, col(Sighting.id) == col(SightingMatch.sighting_id))
        .where(col(SightingMatch.leak_id).in_(leak_ids))
        .group_by(col(SightingMatch.leak_id), col(Sighting.domain))
        .order_by(col(Sighting.domain))
    )
    found: dict[UUID, list[str]] = defaultdict(list)
    for leak_id, domain in session.exec(statement):
        assert leak_id is not None
        found[leak_id].append(domain)
    return dict(found)


# A leak's sightings in publication order: claimed time where given, receive time otherwise, then
# receive time, then id; ix_sighting_matches_leak_order holds them in this order.
_PUBLICATION_ORDER = (
    col(SightingMatch.published_at),
    col(SightingMatch.received_at),
    col(SightingMatch.sighting_id),
)
# Where a page of a leak's sightings ends: (published_at, received_at, sighting_id).
SightingPosition = tuple[datetime, datetime, UUID]


def _sightings(leak_id: UUID) -> Select[Sighting, SightingMatch]:
    return (
        select(Sighting, SightingMatch)
        .join(SightingMatch, col(SightingMatch.sighting_id) == col(Sighting.id))
        .where(SightingMatch.leak_id == leak_id)
        .order_by(*_PUBLICATION_ORDER)
    )


def sightings_of(session: Session, leak_id: UUID) -> list[tuple[Sighting, SightingMatch]]:
    """Every sighting of a leak, in publication order."""
    return [(sighting, match) for sighting, match in session.exec(_sightings(leak_id))]


def sightings_page(
    session: Session, leak_id: UUID, *, position: SightingPosition | None, limit: int
) -> list[tuple[Sighting, SightingMatch]]:
    """Up to `limit` sightings of a leak after `position`, in publication order: one range of
    the leak-order index, however many sightings the leak has."""
    statement = _sightings(leak_id)
    if position is not None:
        statement = statement.where(after_keys(_PUBLICATION_ORDER, position, descending=False))
    return [(s, m) for s, m in session.exec(statement.limit(limit))]


def add_event(session: Session, event: LeakEvent) -> None:
    session.add(event)
    session.flush()


def events_of(session: Session, leak_id: UUID) -> list[LeakEvent]:
    statement = select(LeakEvent).where(LeakEvent.leak_id == leak_id)
    return list(session.exec(statement.order_by(col(LeakEvent.at), col(LeakEvent.id))))
