"""Leak reports as security reads and works them: listing, reading, their sightings page by page,
and triage (service/desk/decision.py opens and extends them)."""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlmodel import Session

from service import values
from service.access import audit
from service.access.actors import Actor
from service.desk import decision
from service.desk.reports import (
    AssetRef,
    HistoryEntry,
    LeakDetail,
    LeakList,
    LeakSummary,
    NoteEntry,
    SightingEntry,
    SourceRef,
)
from service.errors import InvalidInput, InvalidTransition, LeakNotFound
from service.paging import (
    Page,
    clamp_limit,
    decode_cursor,
    decode_keys,
    encode_cursor,
    encode_keys,
    split_page,
)
from storage.models import Dismissal, Leak, LeakEvent, Sighting, SightingMatch
from storage.repositories import dismissals as dismissals_repo
from storage.repositories import leaks as leaks_repo
from storage.repositories.leaks import LeakFilter, LeakRow

STATUSES = ("open", "confirmed", "false_positive", "takedown_requested", "resolved")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"confirmed", "false_positive", "resolved"}),
    "confirmed": frozenset({"takedown_requested", "resolved", "false_positive"}),
    "takedown_requested": frozenset({"resolved", "confirmed"}),
    "false_positive": frozenset({"open"}),
    "resolved": frozenset({"open"}),
}
MAX_NOTE_LENGTH = 10_000


def _dismiss(session: Session, leak: Leak, at: datetime) -> None:
    found = dismissals_repo.evidence_of_leak(session, leak.id)
    dismissals_repo.add_all(
        session,
        [
            Dismissal(
                asset_id=leak.asset_id, leak_id=leak.id, content_key=key, pdq=bits, created_at=at
            )
            for key, bits in found
        ],
    )


def _summary_fields(row: LeakRow, domains: list[str]) -> dict[str, object]:
    leak, asset, first = row.leak, row.asset, row.first_sighting
    return {
        "id": leak.id,
        "asset": AssetRef(
            id=asset.id, name=asset.name, product=asset.product, embargo_until=asset.embargo_until
        ),
        "status": leak.status,
        "first_seen_at": leak.first_seen_at,
        "first_source": SourceRef(
            page_url=first.page_url,
            image_url=first.image_url,
            domain=first.domain,
            account=first.account,
            found_at=first.found_at,
            received_at=first.received_at,
        ),
        "last_seen_at": leak.last_seen_at,
        "sightings_count": leak.sightings_count,
        "domains": domains,
        "best_score": leak.best_score,
        "assignee": leak.assignee,
        "lead_time_seconds": (asset.embargo_until - leak.first_seen_at).total_seconds(),
    }


def _validated_filter(f: LeakFilter) -> LeakFilter:
    if f.status is not None and f.status not in STATUSES:
        raise InvalidInput(f"unknown status {f.status!r}; known: {', '.join(STATUSES)}")
    return replace(
        f,
        product=values.text(f.product, "product", max_length=200) if f.product else f.product,
        domain=values.text(f.domain, "domain", max_length=255).lower() if f.domain else f.domain,
        since=values.instant(f.since, "since") if f.since else None,
        until=values.instant(f.until, "until") if f.until else None,
    )


class LeakOrder(StrEnum):
    ACTIVITY = "activity"  # newest activity (last sighting received) first
    FIRST_SEEN = "first_seen"  # earliest first publication first


def list_leaks(
    session: Session,
    leak_filter: LeakFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    order: LeakOrder = LeakOrder.ACTIVITY,
) -> Page[LeakSummary]:
    leak_filter = _validated_filter(leak_filter)
    size = clamp_limit(limit)
    earliest_first = order is LeakOrder.FIRST_SEEN
    tag = "" if order is LeakOrder.ACTIVITY else order.value
    rows = leaks_repo.page(
        session,
        leak_filter,
        position=decode_cursor(cursor, tag),
        limit=size + 1,
        earliest_first=earliest_first,
    )
    shown, last_row = split_page(rows, size)
    domains = leaks_repo.domains_by_leak(session, [r.leak.id for r in shown])
    items = [
        LeakSummary.model_validate(_summary_fields(r, domains.get(r.leak.id, []))) for r in shown
    ]
    if last_row is None:
        return Page(items, None)
    last = last_row.leak
    key = last.first_seen_at if earliest_first else last.last_seen_at
    return Page(items, encode_cursor(key, last.id, tag))


def report_leaks(
    session: Session,
    leak_filter: LeakFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    order: LeakOrder = LeakOrder.ACTIVITY,
) -> LeakList:
    """A page of leak reports, with the count per status that a triage queue shows."""
    page = list_leaks(session, leak_filter, cursor=cursor, limit=limit, order=order)
    counted = leaks_repo.totals(session, _validated_filter(leak_filter))
    totals = {status: counted.get(status, 0) for status in STATUSES}
    return LeakList(items=page.items, next_cursor=page.next_cursor, totals=totals)


def get_leak(
    session: Session,
    leak_id: UUID,
    *,
    sightings_cursor: str | None = None,
    sightings_limit: int | None = None,
) -> LeakDetail:
    """A report with one page of its sightings, in publication order: the first page, or the one
    `sightings_cursor` (a `sightings_next_cursor`) starts; `leak_sightings` pages on alone."""
    row = _row(session, leak_id)
    sightings = _sightings_page(session, leak_id, sightings_cursor, sightings_limit)
    domains = leaks_repo.domains_by_leak(session, [leak_id]).get(leak_id, [])
    events = leaks_repo.events_of(session, leak_id)
    return LeakDetail.model_validate(
        {
            **_summary_fields(row, domains),
            "sightings": sightings.items,
            "sightings_next_cursor": sightings.next_cursor,
            "history": [
                HistoryEntry(
                    at=e.at,
                    actor=e.actor,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    note=e.note,
                )
                for e in events
            ],
            "notes": [NoteEntry(at=e.at, actor=e.actor, note=e.note) for e in events if e.note],
        }
    )


def get_leak_summary(session: Session, leak_id: UUID) -> LeakSummary:
    """A report's summary alone, as the leak list shows it."""
    row = _row(session, leak_id)
    domains = leaks_repo.domains_by_leak(session, [leak_id]).get(leak_id, [])
    return LeakSummary.model_validate(_summary_fields(row, domains))


def leak_sightings(
    session: Session, leak_id: UUID, *, cursor: str | None = None, limit: int | None = None
) -> Page[SightingEntry]:
    """A page of a leak's sightings, oldest publication first."""
    if leaks_repo.get(session, leak_id) is None:
        raise LeakNotFound(f"no leak with id {leak_id}")
    return _sightings_page(session, leak_id, cursor, limit)


def _row(session: Session, leak_id: UUID) -> LeakRow:
    row = leaks_repo.get_row(session, leak_id)
    if row is None:
        raise LeakNotFound(f"no leak with id {leak_id}")
    return row


def _sightings_tag(leak_id: UUID) -> str:
    # Binds a cursor to one leak's sightings: one from another list, or another leak, is refused
    # rather than read as a place in this one.
    return f"leak-sightings:{leak_id}"


def _sightings_page(
    session: Session, leak_id: UUID, cursor: str | None, limit: int | None
) -> Page[SightingEntry]:
    size, tag = clamp_limit(limit), _sightings_tag(leak_id)
    decoded, position = decode_keys(cursor, 2, tag), None
    if decoded is not None:
        (published, received), sighting_id = decoded
        position = (published, received, sighting_id)
    rows = leaks_repo.sightings_page(session, leak_id, position=position, limit=size + 1)
    shown, last_row = split_page(rows, size)
    items = [_sighting_entry(s, m) for s, m in shown]
    if last_row is None:
        return Page(items, None)
    last = last_row[1]
    next_cursor = encode_keys((last.published_at, last.received_at), last.sighting_id, tag)
    return Page(items, next_cursor)


def _sighting_entry(s: Sighting, m: SightingMatch) -> SightingEntry:
    return SightingEntry(
        id=s.id,
        page_url=s.page_url,
        image_url=s.image_url,
        domain=s.domain,
        account=s.account,
        found_at=s.found_at,
        received_at=s.received_at,
        score=m.score,
        sha256=s.sha256,
        variant=m.variant,
        region=m.region,
        distances=m.distances,
        region_polygon=m.region_polygon,
    )


@dataclass(frozen=True)
class LeakChange:
    status: str | None = None
    assignee: str | None = None
    note: str | None = None


def update_leak(
    session: Session,
    actor: Actor,
    leak_id: UUID,
    change: LeakChange,
    *,
    now: datetime,
    base_url: str = "",
    sightings_limit: int | None = None,
) -> LeakDetail:
    """Triage: a status move along TRANSITIONS, an assignment, a note; each one a history entry.
    Dismissing a leak as a false positive teaches the matcher its found images."""
    leak = leaks_repo.get(session, leak_id, for_update=True)
    if leak is None:
        raise LeakNotFound(f"no leak with id {leak_id}")
    note = (
        values.text(change.note, "note", max_length=MAX_NOTE_LENGTH, multiline=True)
        if change.note
        else None
    )
    assignee = (
        values.text(change.assignee, "assignee", max_length=200)
        if change.assignee is not None
        else None
    )
    change = replace(change, assignee=assignee)
    new_status = leak.status
    if change.status is not None and change.status != leak.status:
        if change.status not in STATUSES:
            raise InvalidInput(f"unknown status {change.status!r}; known: {', '.join(STATUSES)}")
        if change.status not in TRANSITIONS[leak.status]:
            allowed = ", ".join(sorted(TRANSITIONS[leak.status]))
            raise InvalidTransition(
                f"a leak that is {leak.status} cannot become {change.status}; it can become: {allowed}"
            )
        new_status = change.status
    assignee_changed = change.assignee is not None and change.assignee != (leak.assignee or "")
    if new_status == leak.status and not assignee_changed and not note:
        return get_leak(session, leak_id, sightings_limit=sightings_limit)

    leaks_repo.add_event(
        session,
        LeakEvent(
            leak_id=leak.id,
            at=now,
            actor=actor.name,
            actor_key_id=actor.key_id,
            from_status=leak.status,
            to_status=new_status,
            assignee=change.assignee if assignee_changed else None,
            note=note,
        ),
    )
    detail: dict[str, str] = {}
    if new_status != leak.status:
        detail.update(from_status=leak.status, to_status=new_status)
        leak.status = new_status
        if new_status == "false_positive":
            _dismiss(session, leak, now)
    if assignee_changed:
        leak.assignee = change.assignee or None
        detail["assignee"] = change.assignee or ""
    if note:
        detail["note"] = "added"
    leak.updated_at = now
    session.add(leak)
    session.flush()
    audit.record(session, actor, "leak.update", "leak", leak.id, at=now, **detail)
    if "to_status" in detail or assignee_changed:
        decision.alert(session, "leak.updated", leak, now, base_url)
    return get_leak(session, leak_id, sightings_limit=sightings_limit)
