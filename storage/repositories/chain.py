"""The sighting chain's head row, the chained records read in chain order, and the positions
`verify` found intact."""

from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.db import gate_writes
from storage.models import ChainCheckpoint, ChainHead, Sighting


def lock_head(session: Session) -> tuple[int, str]:
    """The last chain position and its digest, with the head row locked until the transaction
    ends (on SQLite, the write lock is taken): no other writer can append until this one is done."""
    gate_writes(session)
    statement = (
        update(ChainHead)
        .where(col(ChainHead.id) == 1)
        .values(seq=ChainHead.seq)
        .returning(col(ChainHead.seq), col(ChainHead.digest))
    )
    seq, digest = session.execute(statement).one()
    return seq, digest


def set_head(session: Session, seq: int, digest: str) -> None:
    session.execute(update(ChainHead).where(col(ChainHead.id) == 1).values(seq=seq, digest=digest))


def head(session: Session) -> ChainHead:
    return session.exec(select(ChainHead).where(ChainHead.id == 1)).one()


def unchained(session: Session) -> list[Sighting]:
    """Records that have no chain position yet (kept from before the chain existed)."""
    statement = (
        select(Sighting)
        .where(col(Sighting.chain_seq).is_(None))
        .order_by(col(Sighting.received_at), col(Sighting.id))
    )
    return list(session.exec(statement))


def count_unchained(session: Session) -> int:
    statement = select(func.count()).select_from(Sighting).where(col(Sighting.chain_seq).is_(None))
    return session.exec(statement).one()


def walk(
    session: Session, *, after: int = 0, through: int | None = None, batch: int = 1000
) -> Iterator[Sighting]:
    """The chained records past position `after` (up to `through`, if given) in chain order, read
    a batch at a time."""
    last = after
    while True:
        statement = select(Sighting).where(col(Sighting.chain_seq) > last)
        if through is not None:
            statement = statement.where(col(Sighting.chain_seq) <= through)
        statement = statement.order_by(col(Sighting.chain_seq)).limit(batch)
        rows = list(session.exec(statement))
        if not rows:
            return
        yield from rows
        last = rows[-1].chain_seq or last
        session.expunge_all()


def head_seq(session: Session) -> int:
    """The head's position as committed now (read afresh, not from the session's objects)."""
    return session.exec(select(ChainHead.seq).where(ChainHead.id == 1)).one()


def count_past(session: Session, seq: int) -> int:
    """Chained records past position `seq`."""
    statement = select(func.count()).select_from(Sighting).where(col(Sighting.chain_seq) > seq)
    return session.exec(statement).one()


def digests_at(session: Session, seqs: Collection[int], batch: int = 1000) -> dict[int, str]:
    """The chain digests stored at the given positions (positions with no record are left out),
    asked for a batch at a time to stay under the drivers' bound-parameter limits."""
    wanted = sorted(set(seqs))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), batch):
        statement = select(Sighting.chain_seq, Sighting.chain_digest).where(
            col(Sighting.chain_seq).in_(wanted[start : start + batch])
        )
        found.update((s, d) for s, d in session.exec(statement) if s is not None and d is not None)
    return found


def last_checkpoint(session: Session) -> ChainCheckpoint | None:
    """The furthest position a verification found intact."""
    statement = select(ChainCheckpoint).order_by(
        col(ChainCheckpoint.seq).desc(), col(ChainCheckpoint.verified_at).desc()
    )
    return session.exec(statement.limit(1)).first()


def add_checkpoint(
    session: Session, *, seq: int, digest: str, verified_at: datetime, full: bool
) -> None:
    session.add(ChainCheckpoint(seq=seq, digest=digest, verified_at=verified_at, full=full))
    session.flush()
