"""The leak decision: each match of a new sighting is a leak (opening or extending the asset's
report), a post-embargo sighting or a dismissed copy, decided from the sighting's receive time."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlmodel import Session

from service import metrics
from service.access.actors import SYSTEM
from service.alerts import webhooks
from service.detection.hashes import hamming
from service.detection.matching import AssetMatch
from storage.models import Dismissal, Leak, LeakEvent
from storage.repositories import assets as assets_repo
from storage.repositories import dismissals as dismissals_repo
from storage.repositories import leaks as leaks_repo
from storage.repositories import sightings as sightings_repo

# PDQ's authors' distance for "the same picture" (re-encoded, resized): a dismissed found image
# and its near-duplicates stay dismissed, while the asset's other copies, which matched it at up
# to the looser match threshold, still open leaks.
SAME_IMAGE_PDQ_DISTANCE = 31
# A new sighting joins the asset's report while it is being worked; once the report is closed
# (dismissed or resolved) a new sighting is a new incident and opens a new report.
EXTENDABLE = ("open", "confirmed", "takedown_requested")


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
        alert(self.session, "leak.opened", leak, sighting.received_at, self.base_url)
        metrics.count_leak_opened_on_commit(self.session)
        return leak

    def stage(self) -> None:
        """Written with the request's other changes, at the next flush."""
        if self.leak is not None:
            self.session.add(self.leak)


def alert(session: Session, event_type: str, leak: Leak, at: datetime, base_url: str) -> None:
    webhooks.enqueue(
        session,
        event_type,
        at=at,
        leak_id=leak.id,
        asset_id=leak.asset_id,
        status=leak.status,
        base_url=base_url,
    )
