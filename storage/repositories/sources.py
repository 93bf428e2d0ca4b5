"""Where leaks were published: sightings of real leaks grouped by domain and account."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from storage.models import Leak, Sighting, SightingMatch

# A dismissed leak says nothing about who leaks.
NOT_COUNTED = ("false_positive",)


@dataclass(frozen=True)
class SourceRow:
    domain: str
    account: str | None
    leaks: int
    first_publisher_count: int
    sightings: int
    first_seen_at: datetime
    last_seen_at: datetime


def ranked(session: Session, *, offset: int = 0, limit: int = 50) -> list[SourceRow]:
    """Most leaks first, then most often first publisher, then domain and account."""
    published = func.coalesce(col(Sighting.found_at), col(Sighting.received_at))
    first_publisher = case((col(Leak.first_sighting_id) == col(Sighting.id), Leak.id), else_=None)
    leaks = func.count(func.distinct(Leak.id))
    first_count = func.count(func.distinct(first_publisher))
    statement = (
        select(
            col(Sighting.domain),
            col(Sighting.account),
            leaks,
            first_count,
            func.count(col(SightingMatch.id)),
            func.min(published),
            func.max(col(Sighting.received_at)),
        )
        .join(SightingMatch, col(SightingMatch.sighting_id) == col(Sighting.id))
        .join(Leak, col(Leak.id) == col(SightingMatch.leak_id))
        .where(col(Leak.status).not_in(NOT_COUNTED))
        .group_by(col(Sighting.domain), col(Sighting.account))
        .order_by(leaks.desc(), first_count.desc(), col(Sighting.domain), col(Sighting.account))
        .offset(offset)
        .limit(limit)
    )
    # sqlmodel's select types at most four columns; this one is plain SQLAlchemy.
    return [SourceRow(*row) for row in session.execute(statement).all()]
