"""Sighting rows and their matches against assets."""

from sqlmodel import Session

from storage.models import Sighting, SightingMatch


def add(session: Session, sighting: Sighting) -> Sighting:
    session.add(sighting)
    session.flush()
    return sighting


def add_match(session: Session, match: SightingMatch) -> None:
    session.add(match)
    session.flush()
