"""Webhook alerts: registering endpoints, which endpoints want an event, the outbox message per
endpoint (written in the same transaction as the change it reports, so that no committed event is
ever lost), and the delivery log."""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx2 as httpx
from sqlmodel import Session

from service.access import audit
from service.access.actors import Actor
from service.errors import InvalidInput, WebhookNotFound
from service.paging import Page, clamp_limit, decode_cursor, encode_cursor, split_page
from service.runtime import Runtime
from service.urls import checked_url
from storage.models import Webhook, WebhookDelivery
from storage.repositories import webhooks as webhooks_repo

EVENTS = ("leak.opened", "leak.updated")
ACTIVE = "active"
DISABLED = "disabled"
# Standard Webhooks secrets: "whsec_" and the base64 of 24 to 64 random bytes.
SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's prefix, not a secret)
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048


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


def target(url: str) -> httpx.URL:
    """`url` as the delivery reads it, or InvalidInput: the same parser at registration and at
    every delivery, so an endpoint that registers can always be attempted. (urllib accepts
    hosts such as `0177.0.0.1` or `①②⑦.0.0.1` that httpx refuses.)"""
    try:
        parsed = httpx.URL(url)
        parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise InvalidInput(f"url cannot be delivered to: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise InvalidInput("url must be an absolute http or https URL")
    return parsed


def _checked_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInput(f"unknown events {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    if not events:
        raise InvalidInput(f"subscribe to at least one event of: {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def create_webhook(
    runtime: Runtime, session: Session, actor: Actor, url: str, events: Sequence[str]
) -> tuple[Webhook, str]:
    """Registers an endpoint; its signing secret is returned here and shown nowhere else. Where
    the URL points is checked by the worker at every delivery, since DNS can change after this."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters")
    url = checked_url(url, "url")
    target(url)
    now = runtime.clock()
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    hook = webhooks_repo.add(
        session,
        Webhook(
            url=url,
            events=_checked_events(events),
            secret=runtime.sealer.seal(secret),
            created_by=actor.key_id,
            created_at=now,
            updated_at=now,
        ),
    )
    audit.record(
        session, actor, "webhook.create", "webhook", hook.id, at=now, url=url, events=hook.events
    )
    return hook, secret


def list_webhooks(session: Session) -> list[Webhook]:
    return webhooks_repo.list_all(session)


def get_webhook(session: Session, webhook_id: UUID, *, for_update: bool = False) -> Webhook:
    hook = webhooks_repo.get(session, webhook_id, for_update=for_update)
    if hook is None:
        raise WebhookNotFound(f"no webhook with id {webhook_id}")
    return hook


def delete_webhook(session: Session, actor: Actor, webhook_id: UUID, *, now: datetime) -> None:
    """Removes the endpoint with its delivery log; nothing more is sent to it."""
    hook = get_webhook(session, webhook_id, for_update=True)
    webhooks_repo.remove(session, hook)
    audit.record(session, actor, "webhook.delete", "webhook", webhook_id, at=now, url=hook.url)


def list_deliveries(
    session: Session, webhook_id: UUID, *, cursor: str | None = None, limit: int | None = None
) -> Page[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    get_webhook(session, webhook_id)
    size = clamp_limit(limit)
    rows = webhooks_repo.deliveries_page(
        session, webhook_id, position=decode_cursor(cursor), limit=size + 1
    )
    shown, last = split_page(rows, size)
    return Page(shown, encode_cursor(last.created_at, last.id) if last else None)


def disable(session: Session, actor: Actor, hook: Webhook, reason: str, now: datetime) -> int:
    """Stops all alerts to `hook`: it is marked disabled and its pending deliveries fail.
    Returns how many deliveries were still pending."""
    hook.status = DISABLED
    hook.disabled_reason = reason[:300]
    hook.updated_at = now
    session.add(hook)
    session.flush()
    failed = webhooks_repo.fail_pending(session, hook.id, f"endpoint disabled: {reason}"[:500])
    audit.record(
        session, actor, "webhook.disable", "webhook", hook.id, at=now, reason=hook.disabled_reason
    )
    return failed
