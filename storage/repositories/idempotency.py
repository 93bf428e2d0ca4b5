"""Remembered answers to submissions made with an Idempotency-Key."""

from uuid import UUID

from sqlmodel import Session

from storage.models import IdempotencyRecord


def get(session: Session, api_key_id: UUID, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, (api_key_id, key))


def add(session: Session, record: IdempotencyRecord) -> None:
    """Raises IntegrityError when another request stored the same key first."""
    session.add(record)
    session.flush()
