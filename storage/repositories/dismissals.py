"""What security ruled false positives, per asset."""

from collections.abc import Sequence
from uuid import UUID

from sqlmodel import Session, col, select

from storage.models import Dismissal, Sighting, SightingMatch


def of_asset(session: Session, asset_id: UUID) -> list[Dismissal]:
    return list(session.exec(select(Dismissal).where(Dismissal.asset_id == asset_id)))


def evidence_of_leak(session: Session, leak_id: UUID) -> list[tuple[str, bytes | None]]:
    """(content key, matched PDQ bits) of every sighting in the leak."""
    statement = (
        select(Sighting.content_key, SightingMatch.query_pdq)
        .join(SightingMatch, col(SightingMatch.sighting_id) == col(Sighting.id))
        .where(SightingMatch.leak_id == leak_id)
    )
    return [(key, bits) for key, bits in session.exec(statement)]


def add_all(session: Session, dismissals: Sequence[Dismissal]) -> None:
    session.add_all(dismissals)
    session.flush()
