"""Sources: the domains and accounts that publish leaks, ranked so repeat offenders stand out."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from service import values
from service.desk.leaks import LeakOrder, list_leaks
from service.desk.reports import LeakSummary
from service.paging import Page, clamp_limit, decode_offset, encode_offset
from storage.repositories import sources as sources_repo
from storage.repositories.leaks import LeakFilter


class SourceSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    account: str | None = Field(description="The publishing account or channel, where known.")
    leaks: int = Field(description="Leaks (false positives aside) with a sighting here.")
    first_publisher_count: int = Field(description="Leaks this source published first.")
    sightings: int
    first_seen_at: datetime = Field(description="Earliest publication of a leaked image here.")
    last_seen_at: datetime = Field(description="Latest sighting received from here.")


def list_sources(
    session: Session, *, cursor: str | None = None, limit: int | None = None
) -> Page[SourceSummary]:
    """Most leaks first, then most often first publisher."""
    size, offset = clamp_limit(limit), decode_offset(cursor)
    rows = sources_repo.ranked(session, offset=offset, limit=size + 1)
    items = [SourceSummary.model_validate(row, from_attributes=True) for row in rows[:size]]
    return Page(items, encode_offset(offset + size) if len(rows) > size else None)


def leaks_of_source(
    session: Session,
    domain: str,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    order: LeakOrder = LeakOrder.ACTIVITY,
) -> Page[LeakSummary]:
    domain = values.text(domain, "domain", max_length=255).lower().removeprefix("www.")
    return list_leaks(session, LeakFilter(domain=domain), cursor=cursor, limit=limit, order=order)
