"""Signing out of the dashboard for good: the server remembers which sessions ended."""

from datetime import datetime
from uuid import UUID

from sqlmodel import Session

from storage.models import DashboardSignOut
from storage.repositories import dashboard_sessions as repo


def sign_out(
    session: Session, nonce: str, key_id: UUID | None, *, now: datetime, expires_at: datetime
) -> None:
    """Ends the session whose cookie carries `nonce`: from now on a copy of that cookie is
    refused, though its signature and age are good. Sessions that expired are forgotten."""
    repo.prune(session, now)
    repo.add(
        session, DashboardSignOut(nonce=nonce, key_id=key_id, ended_at=now, expires_at=expires_at)
    )


def has_ended(session: Session, nonce: str) -> bool:
    return repo.is_ended(session, nonce)
