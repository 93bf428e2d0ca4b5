"""Request and response bodies of the HTTP API (leak reports reuse service.reports)."""

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.problems import item_problem
from api.uploads import FilePart
from service.access.actors import Role
from service.assets import MAX_FINGERPRINTS, MAX_TAGS
from service.ingest.intake import MAX_LOCAL_FEATURES_TEXT, MAX_PRINTS_PER_ITEM
from service.ingest.receipts import BatchResult, Receipt
from service.ingest.sightings import HashOnlySubmission, SightingSource
from service.settings import MAX_BATCH_ITEMS

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class Problem(BaseModel):
    """Problem details (RFC 9457): the body of every error answer (api.problems makes them)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:leaksentinel:problem:<code>`, stable per kind of error.")
    title: str
    status: int
    detail: str
    reason: str | None = Field(default=None, description="Which image check refused an upload.")
    # Plain objects, not a nested model: the schema is inlined below, where a `$defs` reference
    # would resolve against the whole OpenAPI document and break.
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Invalid fields (the first 20): `loc`, `msg`, `type`."
    )
    error_count: int | None = Field(default=None, description="How many fields are invalid.")


# Every client error is a problem document, whatever the route: documented once per router as a
# 4XX range, which also replaces FastAPI's own 422 entry (a shape this API never sends).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "Problem details: 400 malformed, 401 no or unknown key, 403 wrong role, "
        "404 not found, 409 conflict, 413 too large, 415 not an accepted image, "
        "422 invalid, 429 rate limited.",
        "content": {"application/problem+json": {"schema": Problem.model_json_schema()}},
    }
}


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyOut(_FromRow):
    id: UUID
    name: str
    role: Role
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
    algorithm: str = Field(max_length=40, examples=["pdq", "phash"])
    variant: str = Field(default="original", max_length=40)
    hex: str = Field(max_length=512)


class AssetFromFingerprints(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    product: str = Field(min_length=1, max_length=200)
    embargo_until: AwareDatetime
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    notes: str | None = Field(default=None, max_length=10_000)
    fingerprints: list[FingerprintIn] = Field(default_factory=list, max_length=MAX_FINGERPRINTS)
    local_features: str | None = Field(
        default=None,
        max_length=MAX_LOCAL_FEATURES_TEXT,
        description="As printed by `leaksentinel fingerprint IMAGE`: the versioned local "
        "features (`orb1:...`) that find crops, rotations and photos of a screen.",
    )


class AssetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embargo_until: AwareDatetime | None = None
    status: Literal["retired"] | None = None


class BatchItemOut(BaseModel):
    index: int = Field(description="Position in the manifest or the items list.")
    filename: str | None = None
    outcome: Literal["created", "duplicate", "rejected"]
    receipt: Receipt | None = None
    problem: dict[str, Any] | None = Field(
        default=None, description="Problem details (RFC 9457), as a single request would get."
    )


class BatchOut(BaseModel):
    """One entry per item, in order; a rejected item changes nothing and spoils nothing."""

    items: list[BatchItemOut]
    created: int
    duplicates: int
    rejected: int

    @classmethod
    def of(cls, result: BatchResult) -> "BatchOut":
        items = [
            BatchItemOut(
                index=i.index,
                filename=i.filename,
                outcome=i.outcome,
                receipt=i.receipt,
                problem=item_problem(i.problem) if i.problem else None,
            )
            for i in result.items
        ]
        return cls(
            items=items,
            created=result.created,
            duplicates=result.duplicates,
            rejected=result.rejected,
        )


class SightingUpload(BaseModel):
    """`POST /v1/sightings`: one found image and where it was found."""

    file: FilePart = Field(description="The image as fetched: JPEG, PNG, WebP or GIF.")
    page_url: str = Field(description="The page the image was found on.")
    image_url: str | None = None
    found_at: AwareDatetime | None = Field(
        None, description="Publication time, where the page states it."
    )
    account: str | None = Field(None, description="Publishing account or channel.")

    def source(self) -> SightingSource:
        return SightingSource(self.page_url, self.image_url, self.account, self.found_at)


class BatchUpload(BaseModel):
    """`POST /v1/sightings/batch`: found images with one manifest entry each."""

    files: list[FilePart] = Field(description="The images, each as fetched.")
    manifest: str = Field(
        description="JSON list, one entry per file: "
        "`{filename, page_url, image_url?, found_at?, account?}`."
    )


class HashOnlyItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_url: str = Field(description="The page the image was found on.")
    image_url: str | None = None
    found_at: AwareDatetime | None = Field(
        default=None, description="Publication time, where the page states it."
    )
    account: str | None = Field(default=None, description="Publishing account or channel.")
    sha256: str | None = Field(default=None, description="SHA-256 of the image bytes, if known.")
    fingerprints: list[FingerprintIn] = Field(
        max_length=MAX_PRINTS_PER_ITEM,
        description="As printed by `leaksentinel fingerprint --for sighting IMAGE`.",
    )
    local_features: str | None = Field(
        default=None,
        max_length=MAX_LOCAL_FEATURES_TEXT,
        description="As printed by `leaksentinel fingerprint --for sighting IMAGE`.",
    )

    def submission(self) -> HashOnlySubmission:
        source = SightingSource(self.page_url, self.image_url, self.account, self.found_at)
        prints = [(f.algorithm, f.variant, f.hex) for f in self.fingerprints]
        return HashOnlySubmission(source, prints, self.sha256, self.local_features)


class HashOnlyBatch(BaseModel):
    # The bound is the setting's ceiling: a longer list is refused from its length alone (pydantic
    # checks a list's length before its items); LEAKSENTINEL_MAX_BATCH_ITEMS, at most this, is
    # checked next, before any item is.
    items: list[HashOnlyItem] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="At most LEAKSENTINEL_MAX_BATCH_ITEMS (256 unless configured).",
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


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="An absolute http or https URL.")
    events: list[str] = Field(
        max_length=10, examples=[["leak.opened", "leak.updated"]], description="Event types."
    )


class WebhookOut(_FromRow):
    id: UUID
    url: str
    events: list[str]
    status: str = Field(description="`active`, or `disabled` (see `disabled_reason`).")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (`whsec_...`). Shown once."
    )


class DeliveryOut(_FromRow):
    id: UUID = Field(description="Also the `webhook-id` header, the same on every retry.")
    event_type: str
    status: str = Field(description="`pending`, `delivered` or `failed`.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="Null once no attempt is left to make.")
    delivered_at: datetime | None

    @model_validator(mode="after")
    def _no_next_attempt_when_settled(self) -> "DeliveryOut":
        if self.status != "pending":
            self.next_attempt_at = None
        return self
