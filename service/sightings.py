"""Found images from crawlers, one at a time, in batches or as fingerprints only: fingerprinted
in the decode workers, then deduplicated, chained as evidence and stored, queued for matching,
in a short transaction shared with the requests writing at the same moment
(storage.group_commit). The receipt does not wait for the match (service/match_queue.py)."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from service import audit, chain, idempotency, intake, match_queue, metrics
from service.actors import Actor
from service.chain import RecordText
from service.detection.decode import ImageData
from service.errors import DomainError, ImageRejected, InvalidInput
from service.inbox import Received
from service.intake import (
    HashOnlySubmission,
    LocalPrints,
    Prepared,
    SightingSource,
    fingerprint_locally,
)
from service.receipts import BatchItem, BatchResult, ItemProblem, Receipt, Stored
from service.runtime import Runtime
from storage.repositories import sightings as sightings_repo

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


M = TypeVar("M", bound=BaseModel)
P = TypeVar("P")
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

    def prepare() -> _Staged:
        received_at = runtime.clock()
        try:
            image = runtime.decoder.fingerprint_found_image(data, runtime.settings.image_limits)
        except ImageRejected as exc:
            metrics.count_rejection(exc)
            raise
        prepared = intake.prepare_upload(actor, source, image, data, received_at)
        return _stage(runtime, session, [prepared])

    def write(writing: Session, staged: _Staged) -> Receipt:
        [receipt] = _record(runtime, writing, staged)
        if not receipt.duplicate:
            audit.record(writing, actor, "sighting.submit", "sighting", receipt.id)
        return receipt

    content = {"source": _source_json(source), "sha256": _sha256(data)} if idempotency_key else {}
    return _idempotent(
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

    def prepare() -> _Outcomes:
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
        return _Outcomes.of(runtime, session, prepared, names)

    def write(writing: Session, outcomes: _Outcomes) -> BatchResult:
        result = outcomes.result(_record(runtime, writing, outcomes.staged))
        _audit_batch(writing, actor, "sighting.batch", result)
        return result

    content = (
        {"manifest": manifest, "files": sorted((n, _sha256(d)) for n, d in files)}
        if idempotency_key
        else {}
    )
    return _idempotent(
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

    def prepare() -> _Outcomes:
        received_at = runtime.clock()
        outcomes = intake.prepare_hashes(actor, items, received_at)
        return _Outcomes.of(runtime, session, outcomes, [None] * len(items))

    def write(writing: Session, outcomes: _Outcomes) -> BatchResult:
        result = outcomes.result(_record(runtime, writing, outcomes.staged))
        _audit_batch(writing, actor, "sighting.fingerprints", result)
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
    return _idempotent(
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


def _audit_batch(session: Session, actor: Actor, action: str, result: BatchResult) -> None:
    """One audit entry per request, not per item: each item is in the chain with its crawler."""
    audit.record(
        session,
        actor,
        action,
        "sightings",
        f"{result.created} created",
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


# ---- recording: staged outside the lock, written in a group commit ---------------------------


@dataclass(frozen=True)
class _Staged:
    """A request's new sightings with everything that depends neither on the chain's tail nor
    on what is stored already done: blobs on disk, records serialised, rows converted."""

    prepared: Sequence[Prepared]
    keys: list[tuple[str, str]]
    texts: list[RecordText]
    rows: sightings_repo.StagedRows
    fresh: list["Receipt"]


def _stage(runtime: Runtime, session: Session, prepared: Sequence[Prepared]) -> _Staged:
    # The bytes are on disk before the row that names them can commit.
    for item in prepared:
        if item.data is not None and item.sighting.sha256:
            runtime.blobs.put(item.sighting.sha256, item.data)
    return _Staged(
        prepared=prepared,
        keys=[(p.sighting.page_key, p.sighting.content_key) for p in prepared],
        texts=[chain.record_text(p.sighting) for p in prepared],
        rows=sightings_repo.stage(session, [p.sighting.columns() for p in prepared], _LATE),
        fresh=[Receipt.of(p.sighting, duplicate=False) for p in prepared],
    )


def _record(runtime: Runtime, session: Session, staged: _Staged) -> list[Receipt]:
    """Stores the new sightings, queued for matching; returns a receipt per item, in order. From the chain's lock to the commit other writers wait: only database
    work here."""
    prepared = staged.prepared
    tail = chain.lock_tail(session)
    earlier: dict[tuple[str, str], Stored] = dict(sightings_repo.existing(session, staged.keys))
    receipts: list[Receipt] = []
    new: list[int] = []
    for index, (item, key) in enumerate(zip(prepared, staged.keys, strict=True)):
        if key in earlier:
            receipts.append(Receipt.of(earlier[key], duplicate=True))
            continue
        earlier[key] = item.sighting
        new.append(index)
        receipts.append(staged.fresh[index])
    chain.append(session, tail, [prepared[i].sighting for i in new], [staged.texts[i] for i in new])
    staged.rows.add(
        session,
        [(i, (prepared[i].sighting.chain_seq, prepared[i].sighting.chain_digest)) for i in new],
    )
    metrics.count_sightings_on_commit(session, len(new))
    match_queue.queue_at_commit(runtime, session, [_received(prepared[i]) for i in new])
    return receipts


def _received(prepared: Prepared) -> Received:
    s = prepared.sighting
    return Received(s.id, s.content_key, s.received_at, s.found_at, prepared.prints)


# Known only under the chain's lock; every other column is converted for the driver before it.
_LATE = ("chain_seq", "chain_digest")


@dataclass(frozen=True)
class _Outcomes:
    """A batch's items, prepared or refused, and the prepared ones staged for writing."""

    outcomes: Sequence[Prepared | DomainError]
    names: Sequence[str | None]
    staged: _Staged

    @classmethod
    def of(
        cls,
        runtime: Runtime,
        session: Session,
        outcomes: Sequence[Prepared | DomainError],
        names: Sequence[str | None],
    ) -> "_Outcomes":
        ready = [o for o in outcomes if isinstance(o, Prepared)]
        return cls(outcomes, names, _stage(runtime, session, ready))

    def result(self, stored: list[Receipt]) -> BatchResult:
        receipts = iter(stored)
        items: list[BatchItem] = []
        for index, (outcome, name) in enumerate(zip(self.outcomes, self.names, strict=True)):
            if isinstance(outcome, DomainError):
                problem = ItemProblem.of(outcome)
                items.append(
                    BatchItem(index=index, filename=name, outcome="rejected", problem=problem)
                )
                continue
            receipt = next(receipts)
            outcome_name: Literal["created", "duplicate"] = (
                "duplicate" if receipt.duplicate else "created"
            )
            items.append(
                BatchItem(index=index, filename=name, outcome=outcome_name, receipt=receipt)
            )
        return BatchResult.of(items)


def _idempotent(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    key: str | None,
    operation: str,
    content: object,
    model: type[M],
    prepare: Callable[[], P],
    write: Callable[[Session, P], M],
) -> M:
    """`prepare` in the request (reading through `session`), then `write` in a group commit,
    where the answer is remembered under the Idempotency-Key in the same transaction."""
    request = ""
    if key is not None:
        key = idempotency.checked_key(key)
        request = idempotency.request_hash(operation, content)
        stored = idempotency.replay(session, actor, key, request)
        if stored is not None:
            return model.model_validate(stored)
    prepared = prepare()

    def write_and_remember(writing: Session) -> M:
        result = write(writing, prepared)
        if key is not None:
            idempotency.remember(writing, actor, key, request, result.model_dump(mode="json"))
        return result

    # The request's own session has only read. Ending its transaction now hands its pooled
    # connection back: requests that wait for their group while holding connections could
    # otherwise leave none for the writer they wait for.
    session.commit()
    return runtime.writes.run(write_and_remember)


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
