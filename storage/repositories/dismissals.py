"""What security ruled false positives, per asset."""

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlmodel import Session, col, select

from storage.models import Dismissal, Sighting, SightingMatch


def of_assets(session: Session, asset_ids: Iterable[UUID]) -> dict[UUID, list[Dismissal]]:
    found: dict[UUID, list[Dismissal]] = {}
    statement = select(Dismissal).where(col(Dismissal.asset_id).in_(list(asset_ids)))
    for dismissal in session.exec(statement):
        found.setdefault(dismissal.asset_id, []).append(dismissal)
    return found


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
