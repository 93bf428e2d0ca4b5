"""/v1/audit: the audit trail, who did what, when and from where (admin)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import AdminActor, SessionDep
from api.schemas import PROBLEM_RESPONSES, Page
from service.access import audit
from service.access.audit import AuditEntry
from storage.repositories.audit import AuditFilter

router = APIRouter(prefix="/v1/audit", tags=["admin"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[AuditEntry])
def list_audit_events(
    _: AdminActor,
    session: SessionDep,
    action: Annotated[str | None, Query(description="e.g. `leak.update`.")] = None,
    actor_key_id: UUID | None = None,
    target_type: Annotated[str | None, Query(description="e.g. `leak`, `asset`, `key`.")] = None,
    target_id: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[AuditEntry]:
    audit_filter = AuditFilter(action, actor_key_id, target_type, target_id, since, until)
    page = audit.list_events(session, audit_filter, cursor=cursor, limit=limit)
    return Page[AuditEntry](items=page.items, next_cursor=page.next_cursor)
