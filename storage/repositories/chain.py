"""The sighting chain's head row and the chained records, read in chain order."""

from collections.abc import Collection, Iterator

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.db import gate_writes
from storage.models import ChainHead, Sighting


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


def walk(session: Session, batch: int = 1000) -> Iterator[Sighting]:
    """Every chained record in chain order, read a batch at a time."""
    last = 0
    while True:
        statement = (
            select(Sighting)
            .where(col(Sighting.chain_seq) > last)
            .order_by(col(Sighting.chain_seq))
            .limit(batch)
        )
        rows = list(session.exec(statement))
        if not rows:
            return
        yield from rows
        last = rows[-1].chain_seq or last
        session.expunge_all()


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
