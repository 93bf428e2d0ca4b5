"""Audit event rows."""

from sqlmodel import Session

from storage.models import AuditEvent


def add(session: Session, event: AuditEvent) -> None:
    session.add(event)
    session.flush()
