"""Webhook alerts: which endpoints want an event, and the outbox message per endpoint, written in
the same transaction as the change it reports so that no committed event is ever lost."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel import Session

from storage.models import WebhookDelivery
from storage.repositories import webhooks as webhooks_repo

EVENTS = ("leak.opened", "leak.updated")


def payload(
    event_type: str, at: datetime, leak_id: UUID, asset_id: UUID, status: str, base_url: str
) -> dict[str, Any]:
    """Thin on purpose: ids, the status and a link; nothing confidential leaves the service."""
    return {
        "type": event_type,
        "timestamp": at.isoformat(),
        "data": {
            "leak_id": str(leak_id),
            "asset_id": str(asset_id),
            "status": status,
            "url": f"{base_url.rstrip('/')}/v1/leaks/{leak_id}",
        },
    }


def enqueue(
    session: Session,
    event_type: str,
    *,
    at: datetime,
    leak_id: UUID,
    asset_id: UUID,
    status: str,
    base_url: str,
) -> int:
    """Queues one delivery per active endpoint subscribed to `event_type`; returns how many."""
    body = payload(event_type, at, leak_id, asset_id, status, base_url)
    deliveries = [
        WebhookDelivery(
            webhook_id=hook.id,
            event_type=event_type,
            payload=body,
            next_attempt_at=at,
            created_at=at,
        )
        for hook in webhooks_repo.active(session)
        if event_type in hook.events
    ]
    webhooks_repo.add_deliveries(session, deliveries)
    return len(deliveries)
