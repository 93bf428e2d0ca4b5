"""Embargoed assets: registration from an image or from fingerprints, reads, embargo moves,
retirement, and keeping the match index in step with all of them."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlmodel import Session

from service import metrics, values
from service.access import audit
from service.access.actors import Actor
from service.detection import features
from service.detection.features import LocalFeatures
from service.detection.hashes import Fingerprint, local_fingerprint
from service.errors import (
    AssetNotFound,
    DuplicateAsset,
    ImageRejected,
    InvalidFingerprint,
    InvalidInput,
)
from service.paging import Page, clamp_limit, decode_cursor, encode_cursor, split_page
from service.runtime import Runtime
from storage.models import Asset
from storage.repositories import assets as assets_repo

ACTIVE = "active"
RETIRED = "retired"
# Tags on one asset, and fingerprints registered with one (POST /v1/assets/fingerprints).
MAX_TAGS = 50
MAX_FINGERPRINTS = 1000


@dataclass(frozen=True)
class AssetDraft:
    name: str
    product: str
    embargo_until: datetime
    tags: Sequence[str] = field(default_factory=tuple)
    notes: str | None = None


@dataclass(frozen=True)
class AssetChange:
    embargo_until: datetime | None = None
    retire: bool = False


def _validated(runtime: Runtime, draft: AssetDraft) -> AssetDraft:
    if len(draft.tags) > MAX_TAGS:
        raise InvalidInput(f"an asset may carry at most {MAX_TAGS} tags")
    name = values.text(draft.name, "name", max_length=300)
    product = values.text(draft.product, "product", max_length=200)
    if not name or not product:
        raise InvalidInput("an asset needs a non-empty name and product")
    embargo_until = values.instant(draft.embargo_until, "embargo_until")
    if embargo_until <= runtime.clock():
        raise InvalidInput("embargo_until is in the past: there is nothing left to protect")
    tags = [values.text(t, "tag", max_length=100) for t in draft.tags]
    notes = (
        values.text(draft.notes, "notes", max_length=10_000, multiline=True)
        if draft.notes
        else None
    )
    return AssetDraft(name, product, embargo_until, tuple(t for t in tags if t), notes or None)


def _new_asset(actor: Actor, draft: AssetDraft, source: str, now: datetime) -> Asset:
    return Asset(
        name=draft.name,
        product=draft.product,
        embargo_until=draft.embargo_until,
        source=source,
        tags=list(draft.tags),
        notes=draft.notes,
        created_by=actor.key_id,
        created_at=now,
        updated_at=now,
    )


def _store(
    runtime: Runtime, session: Session, actor: Actor, asset: Asset, prints: Sequence[Fingerprint]
) -> Asset:
    assets_repo.add(session, asset, prints)
    audit.record(
        session,
        actor,
        "asset.register",
        "asset",
        asset.id,
        at=asset.created_at,
        source=asset.source,
        product=asset.product,
    )
    asset_id, frozen = asset.id, tuple(prints)
    runtime.replica.change(session, lambda index: index.put(asset_id, frozen))
    return asset


def register_from_image(
    runtime: Runtime, session: Session, actor: Actor, draft: AssetDraft, data: bytes
) -> Asset:
    """Fingerprints the image and keeps the fingerprints and a small review thumbnail, never the
    file itself: the pixels are confidential."""
    draft = _validated(runtime, draft)
    try:
        image = runtime.decoder.fingerprint_asset_image(data, runtime.settings.image_limits)
    except ImageRejected as exc:
        metrics.count_rejection(exc)
        raise
    existing = assets_repo.find_active_by_sha256(session, image.sha256)
    if existing is not None:
        raise DuplicateAsset(
            "this image is already registered as an active asset", str(existing.id)
        )
    if not image.prints:
        raise ImageRejected(
            "low_information",
            "the image is too flat to be told apart from unrelated pictures; nothing would match it",
        )
    assert image.thumbnail is not None  # made for every image with prints
    asset = _new_asset(actor, draft, "upload", runtime.clock())
    asset.sha256, asset.width, asset.height = image.sha256, image.width, image.height
    # Written before the row that names it, like every blob.
    runtime.blobs.put(image.thumbnail.sha256, image.thumbnail.jpeg)
    asset.thumbnail_sha256 = image.thumbnail.sha256
    return _store(runtime, session, actor, asset, image.prints)


def register_from_fingerprints(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    draft: AssetDraft,
    prints: Sequence[Fingerprint],
    local_features: str | None = None,
) -> Asset:
    """An asset registered by what `leaksentinel fingerprint IMAGE` printed: its hashes and,
    optionally, its local features in their text form."""
    draft = _validated(runtime, draft)
    if any(p.algorithm == features.ALGORITHM for p in prints):
        raise InvalidFingerprint("local features go in `local_features`, not among the hashes")
    if len(set(prints)) != len(prints):
        raise InvalidFingerprint("the same fingerprint is listed twice")
    prints = list(prints)
    if local_features:
        local = LocalFeatures.from_text(local_features)
        if len(local) >= features.MIN_KEYPOINTS:
            prints.append(local_fingerprint(local))
    if not prints:
        raise InvalidFingerprint("at least one fingerprint, or local features, is needed")
    return _store(
        runtime, session, actor, _new_asset(actor, draft, "fingerprints", runtime.clock()), prints
    )


def get_asset(session: Session, asset_id: UUID) -> Asset:
    asset = assets_repo.get(session, asset_id)
    if asset is None:
        raise AssetNotFound(f"no asset with id {asset_id}")
    return asset


def list_assets(
    session: Session,
    *,
    product: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[Asset]:
    if status is not None and status not in (ACTIVE, RETIRED):
        raise InvalidInput(f"unknown status {status!r}; known: {ACTIVE}, {RETIRED}")
    if product is not None:
        product = values.text(product, "product", max_length=200)
    size = clamp_limit(limit)
    rows = assets_repo.page(
        session, product=product, status=status, position=decode_cursor(cursor), limit=size + 1
    )
    shown, last = split_page(rows, size)
    return Page(shown, encode_cursor(last.created_at, last.id) if last else None)


def update_asset(
    runtime: Runtime, session: Session, actor: Actor, asset_id: UUID, change: AssetChange
) -> Asset:
    """Moves the embargo or retires the asset. Decisions already taken stay as they are; the new
    embargo applies to every later sighting, and a retired asset stops matching at once."""
    asset = assets_repo.get(session, asset_id, for_update=True)
    if asset is None:
        raise AssetNotFound(f"no asset with id {asset_id}")
    changed: dict[str, str] = {}
    if change.embargo_until is not None:
        embargo_until = values.instant(change.embargo_until, "embargo_until")
        if asset.status == RETIRED:
            raise InvalidInput("a retired asset's embargo cannot be moved")
        changed["embargo_until"] = embargo_until.isoformat()
        asset.embargo_until = embargo_until
    if change.retire and asset.status != RETIRED:
        changed["status"] = RETIRED
        asset.status = RETIRED
        runtime.replica.change(session, lambda index: index.remove(asset_id))
    if changed:
        asset.updated_at = runtime.clock()
        session.add(asset)
        session.flush()
        audit.record(
            session, actor, "asset.update", "asset", asset.id, at=asset.updated_at, **changed
        )
    return asset
