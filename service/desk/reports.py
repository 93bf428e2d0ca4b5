"""Read models of leak reports, shaped as security and legal read them."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True)


class AssetRef(_Report):
    id: UUID
    name: str
    product: str
    embargo_until: datetime


class SourceRef(_Report):
    page_url: str
    image_url: str | None
    domain: str
    account: str | None
    found_at: datetime | None = Field(description="Publication time claimed by the crawler.")
    received_at: datetime = Field(description="When LeakSentinel received it.")


class LeakSummary(_Report):
    id: UUID
    asset: AssetRef
    status: str
    first_seen_at: datetime = Field(
        description="When the earliest source published: the crawler's claimed publication "
        "time where given, the receive time otherwise."
    )
    first_source: SourceRef = Field(description="The earliest publisher.")
    last_seen_at: datetime = Field(description="When the latest sighting was received.")
    sightings_count: int
    domains: list[str]
    best_score: float
    assignee: str | None
    lead_time_seconds: float = Field(
        description="Embargo end minus first sighting: how early the picture got out."
    )


class SightingEntry(_Report):
    id: UUID
    page_url: str
    image_url: str | None
    domain: str
    account: str | None
    found_at: datetime | None = Field(description="Publication time claimed by the crawler.")
    received_at: datetime
    score: float
    sha256: str | None
    variant: str = Field(
        description="The registered variant that matched, e.g. `flip`, `crop70-lt`."
    )
    region: str = Field(
        description="The part of the found image that matched: `original`, or "
        "`region:left,top,right,bottom` as shares of its width and height, or `local` for a "
        "match by local features."
    )
    distances: dict[str, int] = Field(
        description="Hamming distance per algorithm; for a match by local features, `inliers` "
        "(point pairs the homography explains), `votes` and `density_permille`."
    )
    region_polygon: list[list[float]] | None = Field(
        default=None,
        description="Where the asset lies in the found image, when local features placed it: "
        "four [x, y] corners as shares of its width and height (0 to 1): where the asset's "
        "top-left, top-right, bottom-right and bottom-left corners fall, held inside the image.",
    )


class HistoryEntry(_Report):
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str | None


class NoteEntry(_Report):
    at: datetime
    actor: str
    note: str


class LeakDetail(LeakSummary):
    sightings: list[SightingEntry] = Field(
        description="The first page of the leak's sightings, oldest publication first; "
        "`GET /v1/leaks/{id}/sightings` pages on."
    )
    sightings_next_cursor: str | None = Field(
        description="Pass as `cursor` to `GET /v1/leaks/{id}/sightings` for the next page of "
        "sightings; null when this page holds the last."
    )
    history: list[HistoryEntry]
    notes: list[NoteEntry]


class LeakList(_Report):
    items: list[LeakSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    totals: dict[str, int] = Field(
        description="Leaks per status under the same filters, the status filter aside."
    )
