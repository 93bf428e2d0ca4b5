"""What a crawler gets back for a submission: a receipt per sighting, a problem per refused item."""

from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.errors import DomainError


class Stored(Protocol):
    """What a receipt shows of a sighting already stored."""

    @property
    def id(self) -> UUID: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def low_information(self) -> str | None: ...


class Receipt(BaseModel):
    """What a crawler learns: that the image was received. Never whether it matched."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    sha256: str | None
    received_at: datetime
    low_information: str | None = Field(
        description="Set when the image itself carries too little to be matched against anything "
        "(`tiny`, `near-uniform`, `text-only`), or, for a hash-only sighting, when its "
        "fingerprints cover no region with every algorithm (`unsearchable`); a property of this "
        "image, not of any asset."
    )
    duplicate: bool = Field(
        default=False,
        description="True when this content from this page was already received: the receipt is "
        "the first sighting's, and nothing new was stored.",
    )

    @classmethod
    def of(cls, sighting: Stored, *, duplicate: bool) -> "Receipt":
        return cls(
            id=sighting.id,
            sha256=sighting.sha256,
            received_at=sighting.received_at,
            low_information=sighting.low_information,
            duplicate=duplicate,
        )


class ItemProblem(BaseModel):
    code: str
    detail: str
    reason: str | None = None

    @classmethod
    def of(cls, exc: DomainError) -> "ItemProblem":
        return cls(code=exc.code, detail=exc.detail, reason=getattr(exc, "reason", None) or None)


class BatchItem(BaseModel):
    index: int = Field(description="Position in the manifest or the items list.")
    filename: str | None = None
    outcome: Literal["created", "duplicate", "rejected"]
    receipt: Receipt | None = None
    problem: ItemProblem | None = None


class BatchResult(BaseModel):
    items: list[BatchItem]
    created: int
    duplicates: int
    rejected: int

    @classmethod
    def of(cls, items: list[BatchItem]) -> "BatchResult":
        count = {
            o: sum(i.outcome == o for i in items) for o in ("created", "duplicate", "rejected")
        }
        return cls(
            items=items,
            created=count["created"],
            duplicates=count["duplicate"],
            rejected=count["rejected"],
        )
