"""The tables: keys, assets and their fingerprints, sightings and those waiting to be matched,
leaks, matches, history, audit."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.ids import uuid7
from storage.types import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20, index=True)
    # SHA-256 of the whole key: keys are 256-bit random, so a slow KDF would add nothing.
    secret_hash: str = Field(max_length=64, unique=True)
    # Once the key's first characters; written empty since, as any part of a secret told an admin
    # list reader (or a database reader) part of another key. Kept so no migration is needed.
    prefix: str = Field(max_length=16, default="")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Asset(SQLModel, table=True):
    __tablename__ = "assets"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str = Field(max_length=300)
    product: str = Field(max_length=200, index=True)
    embargo_until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = Field(default="active", max_length=20, index=True)
    source: str = Field(max_length=20)  # "upload" or "fingerprints"
    sha256: str | None = Field(default=None, max_length=64, index=True)
    width: int | None = None
    height: int | None = None
    # SHA-256 of the small re-encoded review thumbnail in the blob store; null for an asset
    # registered from fingerprints, whose pixels the service never saw.
    thumbnail_sha256: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str | None = None
    created_by: UUID | None = Field(default=None, foreign_key="api_keys.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AssetFingerprint(SQLModel, table=True):
    __tablename__ = "asset_fingerprints"

    id: int | None = Field(default=None, primary_key=True)
    asset_id: UUID = Field(foreign_key="assets.id", index=True)
    algorithm: str = Field(max_length=20)
    variant: str = Field(max_length=40)
    size: int  # in bits
    bits: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Sighting(SQLModel, table=True):
    """A found image as evidence: what was received, from where, when, and its place in the
    hash chain. URLs are kept verbatim; their normalised forms group and deduplicate."""

    __tablename__ = "sightings"
    # The same content from the same page counts once.
    __table_args__ = (
        UniqueConstraint("page_key", "content_key", name="uq_sightings_page_content"),
        UniqueConstraint("chain_seq", name="uq_sightings_chain_seq"),
    )

    # Time-ordered: sightings arrive by the thousand per second, and each goes at the key's end.
    id: UUID = Field(default_factory=uuid7, primary_key=True)
    # Not indexed, like `domain`: no query starts from either (migration 0006).
    sha256: str | None = Field(default=None, max_length=64)
    page_url: str
    image_url: str | None = None
    page_key: str  # looked up through UNIQUE (page_key, content_key), its leading column
    image_key: str | None = None
    # The SHA-256 of the bytes, or for a hash-only sighting without one, of its fingerprints.
    content_key: str = Field(max_length=64)
    submitted_as: str = Field(default="upload", max_length=20)  # "upload" or "fingerprints"
    # A hash-only sighting's fingerprints, as sent: [[algorithm, variant, hex], ...]. They are its
    # evidence; an upload's can always be recomputed from its bytes.
    fingerprints: list[list[str]] | None = Field(default=None, sa_column=Column(JSON))
    domain: str = Field(max_length=255)
    account: str | None = Field(default=None, max_length=300)
    found_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    crawler_key_id: UUID | None = Field(default=None, foreign_key="api_keys.id")
    media_type: str | None = Field(default=None, max_length=40)
    # Why the image could not be matched at all ("tiny", "near-uniform", "text-only"), if so.
    low_information: str | None = Field(default=None, max_length=20)
    byte_size: int | None = None
    width: int | None = None
    height: int | None = None
    # Position in the hash chain and the digest over this record and the previous digest.
    chain_seq: int | None = Field(default=None, sa_type=BigInteger)
    chain_digest: str | None = Field(default=None, max_length=64)


class ChainHead(SQLModel, table=True):
    """One row: the last position and digest of the sighting chain. Appending locks it, so
    writers in every process take chain positions one at a time, in commit order."""

    __tablename__ = "chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_type=BigInteger)
    digest: str = Field(max_length=64)


class ChainCheckpoint(SQLModel, table=True):
    """A chain position `leaksentinel verify` found intact, with its digest: the next routine
    run starts there. One row per successful run, kept as the record of what was checked when."""

    __tablename__ = "chain_checkpoints"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    seq: int = Field(sa_type=BigInteger, index=True)
    digest: str = Field(max_length=64)
    verified_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    full: bool  # whether that run walked the chain from its start


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a submission made with an Idempotency-Key, per API key."""

    __tablename__ = "idempotency_records"

    api_key_id: UUID = Field(foreign_key="api_keys.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Leak(SQLModel, table=True):
    __tablename__ = "leaks"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    asset_id: UUID = Field(foreign_key="assets.id", index=True)
    status: str = Field(default="open", max_length=30, index=True)
    first_sighting_id: UUID = Field(foreign_key="sightings.id")
    first_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    sightings_count: int = 0
    best_score: float = 0.0
    assignee: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class SightingMatch(SQLModel, table=True):
    """A sighting that met an asset: the leak-sighting link, or a post-embargo record."""

    __tablename__ = "sighting_matches"
    __table_args__ = (
        UniqueConstraint("sighting_id", "asset_id"),
        # A leak's sightings in publication order, paged by keyset (migration 0007); its leading
        # column also serves every lookup by leak, so no index of leak_id alone is kept.
        Index(
            "ix_sighting_matches_leak_order",
            "leak_id",
            "published_at",
            "received_at",
            "sighting_id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    sighting_id: UUID = Field(foreign_key="sightings.id", index=True)
    asset_id: UUID = Field(foreign_key="assets.id", index=True)
    leak_id: UUID | None = Field(default=None, foreign_key="leaks.id")
    # The sighting's publication time (its claimed found_at, else received_at) and receive time,
    # copied here because the order of a leak's sightings must be readable from one index, and an
    # index cannot span the join to `sightings`. Both are fixed when the sighting is written.
    published_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    kind: str = Field(max_length=20)  # "leak", "post_embargo" or "dismissed"
    score: float
    variant: str = Field(max_length=40)  # the asset variant that matched
    region: str = Field(max_length=60)  # the part of the found image that matched
    distances: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The PDQ bits of the found image's region that matched: what a dismissal remembers.
    query_pdq: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # Where local features placed the asset in the found image: four [x, y] corners as shares
    # of its width and height; None for a match by the global hashes alone (migration 0008).
    region_polygon: list[list[float]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class PendingMatch(SQLModel, table=True):
    """A sighting received and not yet matched: what it is searched with, kept beside it from the
    commit that acknowledged it until the commit that records its matches, so that a stop in
    between loses no match (the next start matches what is left)."""

    __tablename__ = "pending_matches"

    sighting_id: UUID = Field(foreign_key="sightings.id", primary_key=True)
    # [[algorithm, variant, hex], ...], every region the found image is searched with.
    fingerprints: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    # Its local features in their stored form (LocalFeatures.to_bytes), if any.
    local_features: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    low_information: str | None = Field(default=None, max_length=20)
    queued_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class LeakEvent(SQLModel, table=True):
    """One entry of a leak's history: a status change, an assignment or a note."""

    __tablename__ = "leak_events"

    id: int | None = Field(default=None, primary_key=True)
    leak_id: UUID = Field(foreign_key="leaks.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor: str = Field(max_length=200)
    actor_key_id: UUID | None = Field(default=None, foreign_key="api_keys.id")
    from_status: str | None = Field(default=None, max_length=30)
    to_status: str = Field(max_length=30)
    assignee: str | None = Field(default=None, max_length=200)
    note: str | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    actor_key_id: UUID | None = Field(default=None, index=True)
    actor_name: str = Field(max_length=200)
    action: str = Field(max_length=60, index=True)
    target_type: str = Field(max_length=30)
    target_id: str = Field(max_length=64)
    remote_addr: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IndexState(SQLModel, table=True):
    """One row: bumped by every asset write, so each process can tell its index is stale."""

    __tablename__ = "index_state"

    id: int = Field(default=1, primary_key=True)
    generation: int = Field(default=0, sa_type=BigInteger)


class Dismissal(SQLModel, table=True):
    """A found image that security ruled a false positive for an asset: by its content, and by
    the fingerprint of each region of it, so neither it nor a re-encoded copy reopens a leak."""

    __tablename__ = "dismissals"

    id: int | None = Field(default=None, primary_key=True)
    asset_id: UUID = Field(foreign_key="assets.id", index=True)
    leak_id: UUID = Field(foreign_key="leaks.id", index=True)
    content_key: str = Field(max_length=64)
    pdq: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DashboardSignOut(SQLModel, table=True):
    """A dashboard session ended by signing out, by its cookie's nonce: the cookie is signed, not
    stored, so a copy of it stays valid until its expiry unless the server remembers the end.
    Kept until that expiry, after which the cookie is refused anyway."""

    __tablename__ = "dashboard_sign_outs"

    nonce: str = Field(primary_key=True, max_length=64)
    key_id: UUID | None = Field(default=None, foreign_key="api_keys.id")
    ended_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The worker needs it to sign every delivery, so it is encrypted, not hashed: "fernet:" and
    # the token (service/alerts/sealed.py); plaintext only until the first start after migration 0009.
    secret: str = Field(max_length=400)
    status: str = Field(default="active", max_length=20)  # "active" or "disabled"
    disabled_reason: str | None = Field(default=None, max_length=300)
    created_by: UUID | None = Field(default=None, foreign_key="api_keys.id")
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one message per (event, webhook), written in the transaction that caused the
    event, and worked off by the delivery worker until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    webhook_id: UUID = Field(foreign_key="webhooks.id", index=True)
    event_type: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # "pending", "delivered", or "failed" (given up, or the endpoint was disabled)
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
