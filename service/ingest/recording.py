"""Writing a request's new sightings: staged outside any lock (blobs on disk, rows converted),
then deduplicated, chained and inserted with their queued matches in a group commit, the answer
remembered under the request's Idempotency-Key in the same transaction."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from service import metrics
from service.access.actors import Actor
from service.errors import DomainError
from service.evidence import chain
from service.evidence.chain import RecordText
from service.ingest import idempotency, match_queue
from service.ingest.inbox import Received
from service.ingest.intake import Prepared
from service.ingest.receipts import BatchItem, BatchResult, ItemProblem, Receipt, Stored
from service.runtime import Runtime
from storage.repositories import sightings as sightings_repo

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P")


@dataclass(frozen=True)
class Staged:
    """A request's new sightings with everything that depends neither on the chain's tail nor
    on what is stored already done: blobs on disk, records serialised, rows converted."""

    prepared: Sequence[Prepared]
    keys: list[tuple[str, str]]
    texts: list[RecordText]
    rows: sightings_repo.StagedRows
    fresh: list["Receipt"]


def stage(runtime: Runtime, session: Session, prepared: Sequence[Prepared]) -> Staged:
    # The bytes are on disk before the row that names them can commit.
    for item in prepared:
        if item.data is not None and item.sighting.sha256:
            runtime.blobs.put(item.sighting.sha256, item.data)
    return Staged(
        prepared=prepared,
        keys=[(p.sighting.page_key, p.sighting.content_key) for p in prepared],
        texts=[chain.record_text(p.sighting) for p in prepared],
        rows=sightings_repo.stage(session, [p.sighting.columns() for p in prepared], _LATE),
        fresh=[Receipt.of(p.sighting, duplicate=False) for p in prepared],
    )


def record(runtime: Runtime, session: Session, tail: chain.Tail, staged: Staged) -> list[Receipt]:
    """Stores the new sightings, queued for matching; returns a receipt per item, in order. From the chain's lock to the commit other writers wait: only database
    work here."""
    prepared = staged.prepared
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
class Outcomes:
    """A batch's items, prepared or refused, and the prepared ones staged for writing."""

    outcomes: Sequence[Prepared | DomainError]
    names: Sequence[str | None]
    staged: Staged

    @classmethod
    def of(
        cls,
        runtime: Runtime,
        session: Session,
        outcomes: Sequence[Prepared | DomainError],
        names: Sequence[str | None],
    ) -> "Outcomes":
        ready = [o for o in outcomes if isinstance(o, Prepared)]
        return cls(outcomes, names, stage(runtime, session, ready))

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


def idempotent(
    runtime: Runtime,
    session: Session,
    actor: Actor,
    key: str | None,
    operation: str,
    content: object,
    model: type[M],
    prepare: Callable[[], P],
    write: Callable[[Session, chain.Tail, P], M],
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

    def write_and_remember(writing: Session, tail: chain.Tail) -> M:
        result = write(writing, tail, prepared)
        if key is not None:
            idempotency.remember(
                writing, actor, key, request, result.model_dump(mode="json"), now=runtime.clock()
            )
        return result

    # The request's own session has only read. Ending its transaction now hands its pooled
    # connection back: requests that wait for their group while holding connections could
    # otherwise leave none for the writer they wait for.
    session.commit()
    return runtime.writes.run(write_and_remember)
