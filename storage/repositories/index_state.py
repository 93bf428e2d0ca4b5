"""The match index's generation counter, shared by every process on one database."""

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import IndexState


def bump(session: Session) -> int:
    """Commits with the asset write it belongs to; the row lock orders concurrent writers."""
    statement = (
        update(IndexState)
        .where(col(IndexState.id) == 1)
        .values(generation=IndexState.generation + 1)
        .returning(col(IndexState.generation))
    )
    generation: int = session.execute(statement).scalar_one()
    return generation


def current(session: Session) -> int:
    return session.exec(select(IndexState.generation).where(IndexState.id == 1)).one()
