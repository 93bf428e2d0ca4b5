"""The leak decision and leak reports: opening and extending reports, reading them, triage."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from sqlmodel import Session

from service import audit, metrics, values, webhooks
from service.actors import SYSTEM, Actor
from service.detection.hashes import hamming
from service.detection.matching import AssetMatch
from service.errors import InvalidInput, InvalidTransition, LeakNotFound
from service.paging import (
    Page,
    clamp_limit,
    decode_cursor,
    decode_keys,
    encode_cursor,
    encode_keys,
)
from service.reports import (
    AssetRef,
    HistoryEntry,
    LeakDetail,
    LeakList,
    LeakSummary,
    NoteEntry,
    SightingEntry,
    SourceRef,
)
from storage.models import Dismissal, Leak, LeakEvent, Sighting, SightingMatch
from storage.repositories import assets as assets_repo
from storage.repositories import dismissals as dismissals_repo
from storage.repositories import leaks as leaks_repo
from storage.repositories import sightings as sightings_repo
from storage.repositories.leaks import LeakFilter, LeakRow
from storage.types import utcnow

# PDQ's authors' distance for "the same picture" (re-encoded, resized): a dismissed found image
# and its near-duplicates stay dismissed, while the asset's other copies, which matched it at up
# to the looser match threshold, still open leaks.
SAME_IMAGE_PDQ_DISTANCE = 31
STATUSES = ("open", "confirmed", "false_positive", "takedown_requested", "resolved")
# A new sighting joins the asset's report while it is being worked; once the report is closed
# (dismissed or resolved) a new sighting is a new incident and opens a new report.
EXTENDABLE = ("open", "confirmed", "takedown_requested")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"confirmed", "false_positive", "resolved"}),
    "confirmed": frozenset({"takedown_requested", "resolved", "false_positive"}),
    "takedown_requested": frozenset({"resolved", "confirmed"}),
    "false_positive": frozenset({"open"}),
    "resolved": frozenset({"open"}),
}
MAX_NOTE_LENGTH = 10_000


class Seen(Protocol):
    """What the leak decision needs of a sighting."""

    @property
    def id(self) -> UUID: ...
    @property
    def content_key(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def found_at(self) -> datetime | None: ...


def _published_at(sighting: Seen) -> datetime:
    return sighting.found_at or sighting.received_at


def _polygon(match: AssetMatch) -> list[list[float]] | None:
    if match.region_polygon is None:
        return None
    return [[x, y] for x, y in match.region_polygon]


def record_matches(
    session: Session, found: Sequence[tuple[Seen, AssetMatch]], *, base_url: str
) -> None:
    """Each (sighting, match): received before the asset's embargo ends, a leak; after it, a
    post-embargo sighting; a found image security dismissed for this asset stays dismissed.
    Decided per asset, in the order given, from one read each of the assets (their rows locked,
    so that concurrent writers agree on one open report), their dismissals and their reports."""
    by_asset: dict[UUID, list[tuple[Seen, AssetMatch]]] = defaultdict(list)
    for sighting, match in found:
        by_asset[match.asset_id].append((sighting, match))
    if not by_asset:
        return
    assets = assets_repo.lock_many(session, by_asset)
    dismissals = dismissals_repo.of_assets(session, assets)
    reports = leaks_repo.latest_with_status_of(session, assets, EXTENDABLE)
    rows: list[dict[str, object]] = []  # sighting_matches rows, as column values
    for asset in assets.values():
        if asset.status != "active":
            continue  # retired after the index answered
        report = _Report(session, reports.get(asset.id), base_url)
        for sighting, match in by_asset[asset.id]:
            leak_id, kind = None, "post_embargo"
            if sighting.received_at < asset.embargo_until:
                if _dismissed(dismissals.get(asset.id, ()), sighting, match):
                    kind = "dismissed"
                else:
                    leak_id, kind = report.add(sighting, match), "leak"
            rows.append(
                {
                    "sighting_id": sighting.id,
                    "published_at": _published_at(sighting),
                    "received_at": sighting.received_at,
                    "asset_id": asset.id,
                    "leak_id": leak_id,
                    "kind": kind,
                    "score": match.score,
                    "variant": match.variant,
                    "region": match.region,
                    "distances": match.distances,
                    "query_pdq": match.query.get("pdq"),
                    "region_polygon": _polygon(match),
                }
            )
        report.stage()
    session.flush()
    sightings_repo.add_matches(session, rows)


def _dismissed(dismissals: Collection[Dismissal], sighting: Seen, match: AssetMatch) -> bool:
    """The same bytes, or a region whose PDQ hash is within PDQ's near-duplicate distance of one
    dismissed, is the same found image again."""
    query = match.query.get("pdq")
    for dismissal in dismissals:
        if dismissal.content_key == sighting.content_key:
            return True
        pdq = dismissal.pdq
        if query is not None and pdq is not None and hamming(query, pdq) <= SAME_IMAGE_PDQ_DISTANCE:
            return True
    return False


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


class _Report:
    """The asset's report being worked, opened or extended by a request's sightings."""

    def __init__(self, session: Session, leak: Leak | None, base_url: str) -> None:
        self.session, self.leak, self.base_url = session, leak, base_url

    def add(self, sighting: Seen, match: AssetMatch) -> UUID:
        leak = self.leak
        if leak is None:
            self.leak = self._open(sighting, match)
            return self.leak.id
        published = _published_at(sighting)
        if published < leak.first_seen_at:
            leak.first_seen_at, leak.first_sighting_id = published, sighting.id
        leak.last_seen_at = max(leak.last_seen_at, sighting.received_at)
        leak.sightings_count += 1
        leak.best_score = max(leak.best_score, match.score)
        leak.updated_at = sighting.received_at
        return leak.id

    def _open(self, sighting: Seen, match: AssetMatch) -> Leak:
        leak = leaks_repo.add(
            self.session,
            Leak(
                asset_id=match.asset_id,
                first_sighting_id=sighting.id,
                first_seen_at=_published_at(sighting),
                last_seen_at=sighting.received_at,
                sightings_count=1,
                best_score=match.score,
                created_at=sighting.received_at,
                updated_at=sighting.received_at,
            ),
        )
        leaks_repo.add_event(
            self.session,
            LeakEvent(
                leak_id=leak.id, at=sighting.received_at, actor=SYSTEM.name, to_status="open"
            ),
        )
        _alert(self.session, "leak.opened", leak, sighting.received_at, self.base_url)
        metrics.count_leak_opened_on_commit(self.session)
        return leak

    def stage(self) -> None:
        """Written with the request's other changes, at the next flush."""
        if self.leak is not None:
            self.session.add(self.leak)


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
    more = len(rows) > size
    rows = rows[:size]
    domains = leaks_repo.domains_by_leak(session, [r.leak.id for r in rows])
    items = [
        LeakSummary.model_validate(_summary_fields(r, domains.get(r.leak.id, []))) for r in rows
    ]
    last = rows[-1].leak if rows else None
    if not (more and last):
        return Page(items, None)
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
    items = [_sighting_entry(s, m) for s, m in rows[:size]]
    if len(rows) <= size:
        return Page(items, None)
    _, last = rows[size - 1]
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

    now = utcnow()
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
    audit.record(session, actor, "leak.update", "leak", leak.id, **detail)
    if "to_status" in detail or assignee_changed:
        _alert(session, "leak.updated", leak, now, base_url)
    return get_leak(session, leak_id, sightings_limit=sightings_limit)


def _alert(session: Session, event_type: str, leak: Leak, at: datetime, base_url: str) -> None:
    webhooks.enqueue(
        session,
        event_type,
        at=at,
        leak_id=leak.id,
        asset_id=leak.asset_id,
        status=leak.status,
        base_url=base_url,
    )
