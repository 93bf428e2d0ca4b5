"""/v1/webhooks: signed alerts on leak events, and their delivery log (security)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from api.deps import NowDep, RuntimeDep, SecurityActor, SessionDep
from api.schemas import (
    PROBLEM_RESPONSES,
    DeliveryOut,
    Page,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)
from service.alerts import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["security"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
def create_webhook(
    body: WebhookCreate, actor: SecurityActor, runtime: RuntimeDep, session: SessionDep
) -> WebhookCreated:
    hook, secret = webhooks.create_webhook(runtime, session, actor, body.url, body.events)
    return WebhookCreated.model_validate(
        {**WebhookOut.model_validate(hook).model_dump(), "secret": secret}
    )


@router.get("", response_model=Page[WebhookOut])
def list_webhooks(_: SecurityActor, session: SessionDep) -> Page[WebhookOut]:
    rows = webhooks.list_webhooks(session)
    return Page[WebhookOut](items=[WebhookOut.model_validate(r) for r in rows], next_cursor=None)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(
    webhook_id: UUID, actor: SecurityActor, session: SessionDep, now: NowDep
) -> None:
    webhooks.delete_webhook(session, actor, webhook_id, now=now)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    webhook_id: UUID,
    _: SecurityActor,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[DeliveryOut]:
    page = webhooks.list_deliveries(session, webhook_id, cursor=cursor, limit=limit)
    return Page[DeliveryOut](
        items=[DeliveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )
