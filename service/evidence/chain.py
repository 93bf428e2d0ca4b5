"""The sighting hash chain: each record's digest covers its evidence fields and the digest
before it, so a record changed or removed after the fact shows up when the chain is walked.

The chain proves the records were not edited inside the database; it cannot stop someone who
rewrites every later digest and the head too. Against that, the head (or an evidence bundle,
which carries the digests it covers) must be kept somewhere else as well."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlmodel import Session

from storage.repositories import chain as chain_repo

GENESIS = "0" * 64
RECORD_VERSION = 1


class Chained(Protocol):
    """What the chain reads and writes of a sighting: a stored row, or one about to be."""

    id: UUID
    sha256: str | None
    content_key: str
    submitted_as: str
    fingerprints: list[list[str]] | None
    page_url: str
    image_url: str | None
    domain: str
    account: str | None
    found_at: datetime | None
    received_at: datetime
    crawler_key_id: UUID | None
    media_type: str | None
    byte_size: int | None
    width: int | None
    height: int | None
    chain_seq: int | None
    chain_digest: str | None


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_of(sighting: Chained) -> dict[str, Any]:
    """The fields a digest covers: everything the sighting says as evidence."""
    return {
        "v": RECORD_VERSION,
        "seq": sighting.chain_seq,
        "id": str(sighting.id),
        "sha256": sighting.sha256,
        "content_key": sighting.content_key,
        "submitted_as": sighting.submitted_as,
        "fingerprints": sighting.fingerprints,
        "page_url": sighting.page_url,
        "image_url": sighting.image_url,
        "domain": sighting.domain,
        "account": sighting.account,
        "found_at": _instant(sighting.found_at),
        "received_at": _instant(sighting.received_at),
        "crawler_key_id": None if sighting.crawler_key_id is None else str(sighting.crawler_key_id),
        "media_type": sighting.media_type,
        "byte_size": sighting.byte_size,
        "width": sighting.width,
        "height": sighting.height,
    }


def digest(previous: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(f"{previous}\n{_canonical(record)}".encode()).hexdigest()


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RecordText:
    """A record's canonical JSON, encoded, split around its chain position: everything but the
    position is known before the chain is locked, so only the hashing is left for under the lock.
    `digest_at` gives exactly `digest(previous, record_of(s))` once `s.chain_seq` is that seq."""

    before: bytes  # '{..."received_at":...,"seq":'
    after: bytes  # ',"sha256":...}'

    def digest_at(self, previous: str, seq: int) -> str:
        hashed = hashlib.sha256(previous.encode())
        hashed.update(b"\n" + self.before + str(seq).encode() + self.after)
        return hashed.hexdigest()


def record_text(sighting: Chained) -> RecordText:
    """The canonical JSON of `record_of(sighting)` without its position. With sorted keys, the
    members before "seq" and after it are each the canonical JSON of that part of the record, and
    an int's JSON is its str(), so splicing `"seq":N` in between gives the same bytes."""
    record = record_of(sighting)
    del record["seq"]
    below = _canonical({k: v for k, v in record.items() if k < "seq"})[1:-1]
    above = _canonical({k: v for k, v in record.items() if k > "seq"})[1:-1]
    before = "{" + below + ("," if below else "") + '"seq":'
    after = ("," + above if above else "") + "}"
    return RecordText(before.encode(), after.encode())


@dataclass
class Tail:
    """The chain's last position and digest, held under the head row's lock."""

    seq: int
    digest: str


def lock_tail(session: Session) -> Tail:
    """Locks the chain for appending until the transaction ends. Take it once per transaction,
    as late as possible: from here to the commit, every other writer waits. A group commit takes
    it as it begins and hands the Tail to each of its writers, which `append` keeps at the end,
    so their sightings chain on from each other."""
    return Tail(*chain_repo.lock_head(session))


def append(
    session: Session,
    tail: Tail,
    sightings: Sequence[Chained],
    texts: Sequence[RecordText] | None = None,
) -> None:
    """Gives each new sighting the next chain position and its digest, in order. `texts`, one
    per sighting from `record_text`, lets the caller serialise the records before taking the lock."""
    if texts is None:
        texts = [record_text(sighting) for sighting in sightings]
    for sighting, text in zip(sightings, texts, strict=True):
        tail.seq += 1
        sighting.chain_seq = tail.seq
        sighting.chain_digest = tail.digest = text.digest_at(tail.digest, tail.seq)
    chain_repo.set_head(session, tail.seq, tail.digest)


def seal_unchained(session: Session) -> int:
    """Appends sightings stored before the chain existed, oldest first; returns how many."""
    if chain_repo.count_unchained(session) == 0:
        return 0
    tail = lock_tail(session)
    rows = chain_repo.unchained(session)
    append(session, tail, rows)
    for row in rows:
        session.add(row)
    session.flush()
    return len(rows)


@dataclass(frozen=True)
class ChainFault:
    seq: int | None
    sighting_id: str | None
    problem: str

    def __str__(self) -> str:
        where = f"record {self.seq}" if self.seq is not None else "a record"
        who = f" (sighting {self.sighting_id})" if self.sighting_id else ""
        return f"{where}{who}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    records: int  # checked by this run
    head_seq: int
    fault: ChainFault | None
    since_seq: int = 0  # the verified position the run started after; 0 for the whole chain

    @property
    def intact(self) -> bool:
        return self.fault is None


def verify(session: Session, *, full: bool = True, now: datetime | None = None) -> ChainReport:
    """Walks the chain and names the first record that was altered, removed or added. With
    `full` false it starts from the last position a run found intact, after checking that this
    record's digest is still the one found then, so a routine run costs what was added since;
    an intact run records its head as the next start (at `now`).

    A routine run cannot see an old record's fields edited while its stored digest was left
    alone; that needs the full walk, which is why `--full` stays."""
    head = chain_repo.head(session)
    head_seq, head_digest = head.seq, head.digest
    start = None if full else chain_repo.last_checkpoint(session)
    since, previous = (0, GENESIS) if start is None else (start.seq, start.digest)
    report = _walk(session, head_seq, head_digest, since, previous)
    if report.intact and now is not None and head_seq > 0:
        chain_repo.add_checkpoint(
            session, seq=head_seq, digest=head_digest, verified_at=now, full=full
        )
    return report


def _walk(
    session: Session, head_seq: int, head_digest: str, since: int, previous: str
) -> ChainReport:
    def broken(seq: int | None, sighting_id: str | None, problem: str) -> ChainReport:
        return ChainReport(checked, head_seq, ChainFault(seq, sighting_id, problem), since)

    checked = 0
    if since:
        stored = chain_repo.digests_at(session, [since]).get(since)
        if stored is None:
            return broken(since, None, "is missing (removed) since it was verified")
        if stored != previous:
            return broken(since, None, "was altered since it was verified: its digest changed")
    expected_seq = since
    # Only up to the head read above: records appended meanwhile are the next run's.
    for sighting in chain_repo.walk(session, after=since, through=head_seq):
        expected_seq += 1
        seq = sighting.chain_seq
        if seq != expected_seq:
            return broken(expected_seq, None, f"is missing (removed); the next is {seq}")
        if digest(previous, record_of(sighting)) != sighting.chain_digest:
            return broken(seq, str(sighting.id), "was altered: its digest does not match")
        previous = sighting.chain_digest
        checked += 1
    if expected_seq < head_seq:
        return broken(expected_seq + 1, None, "is missing (removed) from the end")
    if previous != head_digest:
        return broken(head_seq, None, "the chain head does not match the last record")
    # Anything past the head as it stands now was added without going through the chain.
    if (extra := chain_repo.count_past(session, chain_repo.head_seq(session))) > 0:
        return broken(head_seq + 1, None, f"{extra} record(s) lie past the chain head (added)")
    if (loose := chain_repo.count_unchained(session)) > 0:
        return broken(None, None, f"{loose} sighting(s) have no chain position")
    return ChainReport(checked, head_seq, None, since)
