"""Dashboard sessions ended by signing out, remembered until their cookies expire."""

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import DashboardSignOut


def add(session: Session, ended: DashboardSignOut) -> None:
    if session.get(DashboardSignOut, ended.nonce) is None:  # signing out twice is one end
        session.add(ended)
        session.flush()


def is_ended(session: Session, nonce: str) -> bool:
    found = session.exec(select(DashboardSignOut.nonce).where(DashboardSignOut.nonce == nonce))
    return found.first() is not None


def prune(session: Session, now: datetime) -> None:
    session.execute(delete(DashboardSignOut).where(col(DashboardSignOut.expires_at) < now))
