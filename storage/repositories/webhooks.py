"""Webhook endpoints and their outbox of deliveries."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import CursorResult, delete, update
from sqlmodel import Session, col, select

from storage.db import gate_writes
from storage.models import Webhook, WebhookDelivery
from storage.repositories._paging import Position, after


def add(session: Session, hook: Webhook) -> Webhook:
    session.add(hook)
    session.flush()
    return hook


def get(session: Session, webhook_id: UUID, *, for_update: bool = False) -> Webhook | None:
    if for_update:
        gate_writes(session)  # SQLite ignores FOR UPDATE: its writer gate serialises instead
    return session.get(Webhook, webhook_id, with_for_update=for_update)


def list_all(session: Session) -> list[Webhook]:
    statement = select(Webhook).order_by(col(Webhook.created_at), col(Webhook.id))
    return list(session.exec(statement))


def active(session: Session) -> list[Webhook]:
    statement = select(Webhook).where(Webhook.status == "active").order_by(col(Webhook.created_at))
    return list(session.exec(statement))


def with_plaintext_secrets(session: Session, sealed_prefix: str) -> list[Webhook]:
    """Endpoints whose secret is not sealed yet, locked for the change."""
    gate_writes(session)
    query = select(Webhook).where(col(Webhook.secret).not_like(f"{sealed_prefix}%"))
    return list(session.exec(query.with_for_update()))


def remove(session: Session, hook: Webhook) -> None:
    """The endpoint and its delivery log go together: the log only means something beside it."""
    session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == hook.id))
    session.delete(hook)
    session.flush()


def add_deliveries(session: Session, deliveries: list[WebhookDelivery]) -> None:
    session.add_all(deliveries)
    session.flush()


def deliveries_page(
    session: Session, webhook_id: UUID, *, position: Position | None, limit: int
) -> list[WebhookDelivery]:
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    cursor_filter = after(col(WebhookDelivery.created_at), col(WebhookDelivery.id), position)
    if cursor_filter is not None:
        statement = statement.where(cursor_filter)
    statement = statement.order_by(
        col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()
    ).limit(limit)
    return list(session.exec(statement))


def next_due(session: Session, now: datetime) -> tuple[WebhookDelivery, Webhook] | None:
    """The pending delivery due longest ago, with its endpoint. On PostgreSQL the row stays
    locked until the transaction ends and rows other workers hold are skipped, so concurrent
    workers never pick the same one; SQLite ignores the clause (it has one writer)."""
    statement = (
        select(WebhookDelivery, Webhook)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.created_at))
        .limit(1)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    row = session.exec(statement).first()
    return None if row is None else (row[0], row[1])


def lease(
    session: Session, delivery_id: UUID, *, seen_attempts: int, now: datetime, until: datetime
) -> bool:
    """Counts one more attempt and hides the row from other workers until `until`, provided
    nobody claimed it since it was read: on SQLite the read and this write are not one atomic
    step, so the row's attempt count is the version checked."""
    statement = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.attempts) == seen_attempts,
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .values(attempts=seen_attempts + 1, next_attempt_at=until)
    )
    return _changed(session, statement) == 1


def settle(session: Session, delivery_id: UUID, *, attempts: int, **values: Any) -> bool:
    """Writes an attempt's outcome, unless another worker has taken the row over since (its
    lease ran out) or it is no longer pending."""
    statement = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.attempts) == attempts,
        )
        .values(**values)
    )
    return _changed(session, statement) == 1


def fail_pending(session: Session, webhook_id: UUID, reason: str) -> int:
    statement = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.webhook_id) == webhook_id,
            col(WebhookDelivery.status) == "pending",
        )
        .values(status="failed", last_error=reason)
    )
    return _changed(session, statement)


def _changed(session: Session, statement: Any) -> int:
    result = session.execute(statement)
    session.flush()
    assert isinstance(result, CursorResult)
    return result.rowcount
