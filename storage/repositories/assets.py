"""Asset rows and their fingerprints."""

from collections.abc import Iterable, Iterator
from typing import Protocol
from uuid import UUID

from sqlalchemy import insert
from sqlmodel import Session, col, select

from storage.db import gate_writes
from storage.models import Asset, AssetFingerprint
from storage.repositories._paging import Position, after


class FingerprintValue(Protocol):
    """What is stored of a fingerprint (service.detection.hashes.Fingerprint is one)."""

    @property
    def algorithm(self) -> str: ...
    @property
    def variant(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def bits(self) -> bytes: ...


def add(session: Session, asset: Asset, fingerprints: Iterable[FingerprintValue]) -> Asset:
    session.add(asset)
    session.flush()
    # One multi-row INSERT, not an ORM object per row: an image has some 160 fingerprints, and
    # as objects they took most of an asset registration's time.
    rows = [
        {
            "asset_id": asset.id,
            "algorithm": f.algorithm,
            "variant": f.variant,
            "size": f.size,
            "bits": f.bits,
        }
        for f in fingerprints
    ]
    if rows:
        session.execute(insert(AssetFingerprint), rows)
    return asset


def get(session: Session, asset_id: UUID, *, for_update: bool = False) -> Asset | None:
    # The row lock serialises changes to one asset on PostgreSQL; on SQLite, which ignores FOR
    # UPDATE, the writer gate does, so a read-modify-write sees the last committed change.
    if for_update:
        gate_writes(session)
    return session.get(Asset, asset_id, with_for_update=for_update)


def lock_many(session: Session, asset_ids: Iterable[UUID]) -> dict[UUID, Asset]:
    """The assets that exist among `asset_ids`, in id order, their rows locked on PostgreSQL in
    that order: two writers locking overlapping sets never wait for each other in a cycle."""
    statement = (
        select(Asset)
        .where(col(Asset.id).in_(list(asset_ids)))
        .order_by(col(Asset.id))
        .with_for_update()
    )
    return {asset.id: asset for asset in session.exec(statement)}


def find_active_by_sha256(session: Session, sha256: str) -> Asset | None:
    statement = select(Asset).where(Asset.sha256 == sha256, Asset.status == "active")
    return session.exec(statement).first()


def page(
    session: Session,
    *,
    product: str | None,
    status: str | None,
    position: Position | None,
    limit: int,
) -> list[Asset]:
    statement = select(Asset)
    if product is not None:
        statement = statement.where(Asset.product == product)
    if status is not None:
        statement = statement.where(Asset.status == status)
    cursor_filter = after(col(Asset.created_at), col(Asset.id), position)
    if cursor_filter is not None:
        statement = statement.where(cursor_filter)
    statement = statement.order_by(col(Asset.created_at).desc(), col(Asset.id).desc()).limit(limit)
    return list(session.exec(statement))


def fingerprints_of(session: Session, asset_id: UUID) -> list[AssetFingerprint]:
    statement = select(AssetFingerprint).where(AssetFingerprint.asset_id == asset_id)
    return list(session.exec(statement.order_by(col(AssetFingerprint.id))))


def active_fingerprints(session: Session) -> Iterator[AssetFingerprint]:
    """Every fingerprint of every active asset: what the match index loads at start."""
    statement = (
        select(AssetFingerprint)
        .join(Asset, col(Asset.id) == col(AssetFingerprint.asset_id))
        .where(Asset.status == "active")
        .order_by(col(AssetFingerprint.id))
    )
    yield from session.exec(statement.execution_options(yield_per=10_000))
