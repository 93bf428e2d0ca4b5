"""The audit trail: who changed what, when and from where."""

from typing import Any

from sqlmodel import Session

from service.actors import Actor
from storage.models import AuditEvent
from storage.repositories import audit as audit_repo
from storage.types import utcnow


def record(
    session: Session, actor: Actor, action: str, target_type: str, target_id: object, **detail: Any
) -> None:
    audit_repo.add(
        session,
        AuditEvent(
            at=utcnow(),
            actor_key_id=actor.key_id,
            actor_name=actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            remote_addr=actor.remote_addr,
            detail=detail,
        ),
    )
