"""Webhook endpoints and their outbox of deliveries."""

from sqlmodel import Session, col, select

from storage.models import Webhook, WebhookDelivery


def active(session: Session) -> list[Webhook]:
    statement = select(Webhook).where(Webhook.status == "active").order_by(col(Webhook.created_at))
    return list(session.exec(statement))


def add_deliveries(session: Session, deliveries: list[WebhookDelivery]) -> None:
    session.add_all(deliveries)
    session.flush()
