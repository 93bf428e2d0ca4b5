"""The audit trail: who changed or exported what, when and from where, and reading it back."""

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from service import values
from service.access.actors import Actor
from service.paging import Page, clamp_limit, decode_cursor, encode_cursor, split_page
from storage.models import AuditEvent
from storage.repositories import audit as audit_repo
from storage.repositories.audit import AuditFilter

# Binds a cursor to this list, so one from another list is refused rather than misread.
CURSOR_TAG = "audit"


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    at: datetime
    actor_key_id: UUID | None = Field(description="The API key that acted; null for the CLI.")
    actor_name: str
    action: str = Field(examples=["leak.update", "leak.export_evidence", "key.create"])
    target_type: str
    target_id: str
    remote_addr: str | None = Field(description="The caller's address as the server saw it.")
    detail: dict[str, Any]


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    *,
    at: datetime,
    **detail: Any,
) -> None:
    audit_repo.add(
        session,
        AuditEvent(
            at=at,
            actor_key_id=actor.key_id,
            actor_name=actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            remote_addr=actor.remote_addr,
            detail=detail,
        ),
    )


def _validated_filter(f: AuditFilter) -> AuditFilter:
    def short(value: str | None, field: str) -> str | None:
        return None if value is None else values.text(value, field, max_length=64)

    return replace(
        f,
        action=short(f.action, "action"),
        target_type=short(f.target_type, "target_type"),
        target_id=short(f.target_id, "target_id"),
        since=values.instant(f.since, "since") if f.since else None,
        until=values.instant(f.until, "until") if f.until else None,
    )


def list_events(
    session: Session,
    audit_filter: AuditFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[AuditEntry]:
    """Newest first."""
    audit_filter = _validated_filter(audit_filter)
    size = clamp_limit(limit)
    # Event ids are integers; the shared cursor format carries them as the UUID of that number.
    position = decode_cursor(cursor, CURSOR_TAG)
    after = None if position is None else (position[0], position[1].int)
    rows = audit_repo.page(session, audit_filter, position=after, limit=size + 1)
    shown, last = split_page(rows, size)
    next_cursor = (
        encode_cursor(last.at, UUID(int=last.id), CURSOR_TAG)
        if last is not None and last.id is not None
        else None
    )
    return Page([AuditEntry.model_validate(r) for r in shown], next_cursor)
