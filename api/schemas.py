"""Request and response bodies of the HTTP API (leak reports reuse service.reports)."""

from datetime import datetime
from typing import Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from service.actors import Role

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyOut(_FromRow):
    id: UUID
    name: str
    role: Role
    prefix: str = Field(description="The first characters of the key, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. Shown once, stored only as a hash.")


class AssetOut(_FromRow):
    id: UUID
    name: str
    product: str
    embargo_until: datetime
    status: str
    source: str = Field(description="`upload` or `fingerprints`.")
    sha256: str | None
    width: int | None
    height: int | None
    tags: list[str]
    notes: str | None
    created_at: datetime
    updated_at: datetime


class FingerprintIn(BaseModel):
    algorithm: str = Field(examples=["pdq", "phash"])
    variant: str = Field(default="original", max_length=40)
    hex: str = Field(max_length=512)


class AssetFromFingerprints(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    product: str = Field(min_length=1, max_length=200)
    embargo_until: AwareDatetime
    tags: list[str] = Field(default_factory=list, max_length=50)
    notes: str | None = Field(default=None, max_length=10_000)
    fingerprints: list[FingerprintIn] = Field(min_length=1, max_length=1000)


class AssetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embargo_until: AwareDatetime | None = None
    status: Literal["retired"] | None = None


class SightingReceipt(_FromRow):
    """What a crawler learns: that the image was received. Never whether it matched."""

    id: UUID
    sha256: str | None
    received_at: datetime
    low_information: str | None = Field(
        description="Set when the image itself carries too little to be matched against anything "
        "(`tiny`, `near-uniform`, `text-only`); a property of this image, not of any asset."
    )


class LeakPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    assignee: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=10_000)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    migrations: bool
    index: bool
