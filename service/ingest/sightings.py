"""Found images from crawlers, one at a time, in batches or as fingerprints only: the entry
points. Each is checked (intake.py) and fingerprinted in the decode workers, then written with
its queued match in a group commit (recording.py); the receipt does not wait for the match
(match_queue.py)."""

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from service import metrics
from service.access import audit
from service.access.actors import Actor
from service.detection.decode import ImageData
from service.errors import DomainError, ImageRejected, InvalidInput
from service.evidence import chain
from service.ingest import intake, recording
from service.ingest.intake import (
    HashOnlySubmission,
    LocalPrints,
    Prepared,
    SightingSource,
    fingerprint_locally,
)
from service.ingest.receipts import BatchResult, Receipt
from service.runtime import Runtime

__all__ = [
    "BatchResult",
    "HashOnlySubmission",
    "LocalPrints",
    "Receipt",
    "SightingSource",
    "fingerprint_locally",
    "submit_batch",
    "submit_fingerprints",
    "submit_image",
]


class ManifestEntry(BaseModel):
    """One file of a batch upload: which file, and where it was found."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    page_url: str
    image_url: str | None = None
    found_at: AwareDatetime | None = None
    account: str | None = None


# One file of a batch upload: where it was found, and its bytes.
Upload = tuple[SightingSource, ImageData]


# ---- entry points ------------------------------------------------------------------------------


def submit_image(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    source: SightingSource,
    data: ImageData,
    *,
    idempotency_key: str | None = None,
) -> Receipt:
    """Stores one found image and decides, per matching asset, leak or post-embargo sighting.
    The same bytes from the same page again get the first receipt back, marked duplicate."""

    def prepare() -> recording.Staged:
        received_at = runtime.clock()
        try:
            image = runtime.decoder.fingerprint_found_image(data, runtime.settings.image_limits)
        except ImageRejected as exc:
            metrics.count_rejection(exc)
            raise
        prepared = intake.prepare_upload(actor, source, image, data, received_at)
        return recording.stage(runtime, session, [prepared])

    def write(writing: Session, tail: chain.Tail, staged: recording.Staged) -> Receipt:
        [receipt] = recording.record(runtime, writing, tail, staged)
        if not receipt.duplicate:
            audit.record(
                writing, actor, "sighting.submit", "sighting", receipt.id, at=runtime.clock()
            )
        return receipt

    content = {"source": _source_json(source), "sha256": _sha256(data)} if idempotency_key else {}
    return recording.idempotent(
        runtime, session, actor, idempotency_key, "upload", content, Receipt, prepare, write
    )


def submit_batch(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    manifest: object,
    files: Sequence[tuple[str, ImageData]],
    *,
    idempotency_key: str | None = None,
) -> BatchResult:
    """Many found images at once: one receipt or one problem per manifest entry, and a bad entry
    never spoils the others. Files the manifest does not name are reported, not stored."""
    if not isinstance(manifest, list):
        raise InvalidInput("the manifest must be a JSON list of {filename, page_url, ...} objects")
    _check_size(runtime, len(manifest))

    def prepare() -> recording.Outcomes:
        received_at = runtime.clock()
        by_name: dict[str, list[ImageData]] = {}
        for name, data in files:
            by_name.setdefault(name, []).append(data)
        uploads: list[Upload | DomainError] = []
        names: list[str | None] = []
        for raw in manifest:
            entry = _manifest_entry(raw)
            names.append(entry.filename if isinstance(entry, ManifestEntry) else None)
            uploads.append(_upload(entry, by_name))
        named = set(filter(None, names))
        for name in by_name:
            if name not in named:
                names.append(name)
                uploads.append(InvalidInput(f"file {name!r} is not named in the manifest"))
        prepared = _prepare_uploads(runtime, actor, uploads, received_at)
        return recording.Outcomes.of(runtime, session, prepared, names)

    def write(writing: Session, tail: chain.Tail, outcomes: recording.Outcomes) -> BatchResult:
        result = outcomes.result(recording.record(runtime, writing, tail, outcomes.staged))
        _audit_batch(writing, actor, "sighting.batch", result, runtime.clock())
        return result

    content = (
        {"manifest": manifest, "files": sorted((n, _sha256(d)) for n, d in files)}
        if idempotency_key
        else {}
    )
    return recording.idempotent(
        runtime, session, actor, idempotency_key, "batch", content, BatchResult, prepare, write
    )


def submit_fingerprints(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    items: Sequence[HashOnlySubmission],
    *,
    idempotency_key: str | None = None,
) -> BatchResult:
    """Sightings hashed on the crawler's side (`leaksentinel fingerprint --for sighting`): the
    fingerprints are the evidence, with the SHA-256 of the bytes where the crawler sends it."""
    _check_size(runtime, len(items))

    def prepare() -> recording.Outcomes:
        received_at = runtime.clock()
        outcomes = intake.prepare_hashes(actor, items, received_at)
        return recording.Outcomes.of(runtime, session, outcomes, [None] * len(items))

    def write(writing: Session, tail: chain.Tail, outcomes: recording.Outcomes) -> BatchResult:
        result = outcomes.result(recording.record(runtime, writing, tail, outcomes.staged))
        _audit_batch(writing, actor, "sighting.fingerprints", result, runtime.clock())
        return result

    content = (
        [
            {
                "source": _source_json(i.source),
                "sha256": i.sha256,
                "prints": i.fingerprints,
                **({"local": _digest(i.local_features)} if i.local_features else {}),
            }
            for i in items
        ]
        if idempotency_key
        else []
    )
    return recording.idempotent(
        runtime,
        session,
        actor,
        idempotency_key,
        "fingerprints",
        content,
        BatchResult,
        prepare,
        write,
    )


def _audit_batch(
    session: Session, actor: Actor, action: str, result: BatchResult, at: datetime
) -> None:
    """One audit entry per request, not per item: each item is in the chain with its crawler."""
    audit.record(
        session,
        actor,
        action,
        "sightings",
        f"{result.created} created",
        at=at,
        created=result.created,
        duplicates=result.duplicates,
        rejected=result.rejected,
    )


def _check_size(runtime: Runtime, count: int) -> None:
    limit = runtime.settings.max_batch_items
    if count > limit:
        raise InvalidInput(f"a request may hold at most {limit} items; this one has {count}")


def _manifest_entry(raw: object) -> ManifestEntry | DomainError:
    try:
        return ManifestEntry.model_validate(raw)
    except ValidationError as exc:
        found = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()[:3]
        )
        return InvalidInput(f"manifest entry is invalid: {found}")


def _upload(
    entry: ManifestEntry | DomainError, by_name: dict[str, list[ImageData]]
) -> Upload | DomainError:
    if isinstance(entry, DomainError):
        return entry
    found = by_name.get(entry.filename, [])
    if len(found) != 1:
        problem = "no file" if not found else f"{len(found)} files"
        return InvalidInput(f"the request has {problem} named {entry.filename!r}")
    return SightingSource(entry.page_url, entry.image_url, entry.account, entry.found_at), found[0]


def _prepare_uploads(
    runtime: Runtime, actor: Actor, uploads: Sequence[Upload | DomainError], received_at: datetime
) -> list[Prepared | DomainError]:
    """Decodes every file on the decode workers at once, then checks them in this process; an
    item's failure, in a worker or here, is its own outcome."""
    files = [u[1] for u in uploads if not isinstance(u, DomainError)]
    decoded = iter(runtime.decoder.fingerprint_found_images(files, runtime.settings.image_limits))
    ready: list[intake.Decoded | DomainError] = []
    for upload in uploads:
        if isinstance(upload, DomainError):
            ready.append(upload)
            continue
        image = next(decoded)
        if isinstance(image, ImageRejected):
            metrics.count_rejection(image)
            ready.append(image)
            continue
        source, data = upload
        ready.append((source, image, data))
    return intake.prepare_uploads(actor, ready, received_at)


def _source_json(source: SightingSource) -> dict[str, Any]:
    return {
        "page_url": source.page_url,
        "image_url": source.image_url,
        "account": source.account,
        "found_at": source.found_at.isoformat() if source.found_at else None,
    }


def _sha256(data: ImageData) -> str:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    with data.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
