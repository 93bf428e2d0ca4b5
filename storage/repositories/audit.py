"""Audit event rows: appended by every write and export, read back newest first."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from storage.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_key_id: UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def add(session: Session, event: AuditEvent) -> None:
    session.add(event)
    session.flush()


def page(
    session: Session,
    audit_filter: AuditFilter,
    *,
    position: tuple[datetime, int] | None,
    limit: int,
) -> list[AuditEvent]:
    """Newest first, by time then id; `position` is the last event of the previous page."""
    f = audit_filter
    statement = select(AuditEvent)
    if f.action is not None:
        statement = statement.where(AuditEvent.action == f.action)
    if f.actor_key_id is not None:
        statement = statement.where(AuditEvent.actor_key_id == f.actor_key_id)
    if f.target_type is not None:
        statement = statement.where(AuditEvent.target_type == f.target_type)
    if f.target_id is not None:
        statement = statement.where(AuditEvent.target_id == f.target_id)
    if f.since is not None:
        statement = statement.where(col(AuditEvent.at) >= f.since)
    if f.until is not None:
        statement = statement.where(col(AuditEvent.at) <= f.until)
    if position is not None:
        at, event_id = position
        at_column, id_column = col(AuditEvent.at), col(AuditEvent.id)
        statement = statement.where(
            or_(at_column < at, and_(at_column == at, id_column < event_id))
        )
    statement = statement.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    return list(session.exec(statement.limit(limit)))
