"""Idempotency-Key: a retried submission gets its first answer again and stores nothing twice."""

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service import values
from service.access.actors import Actor
from service.errors import Conflict, InvalidInput
from storage.models import IdempotencyRecord
from storage.repositories import idempotency as idempotency_repo

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency-key-reused"


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency-key-in-flight"


def request_hash(operation: str, content: Any) -> str:
    """What makes two requests "the same": the operation and its parsed content (files by their
    SHA-256), never the wire bytes, which differ with every multipart boundary."""
    canonical = json.dumps([operation, content], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _owner(actor: Actor) -> UUID:
    if actor.key_id is None:
        raise InvalidInput("an Idempotency-Key needs a caller with an API key")
    return actor.key_id


def checked_key(key: str) -> str:
    key = values.text(key, "Idempotency-Key", max_length=MAX_KEY_LENGTH)
    if not key:
        raise InvalidInput("the Idempotency-Key header is empty")
    return key


def replay(session: Session, actor: Actor, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The answer first given to this key, or None if the key is new. The same key with another
    request is refused: answering it with the first request's result would hide a client bug."""
    record = idempotency_repo.get(session, _owner(actor), key)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request; use a new key per request"
        )
    return record.response


def remember(
    session: Session,
    actor: Actor,
    key: str,
    fingerprint: str,
    response: dict[str, Any],
    *,
    now: datetime,
) -> None:
    record = IdempotencyRecord(
        api_key_id=_owner(actor),
        key=key,
        request_hash=fingerprint,
        response=response,
        created_at=now,
    )
    try:
        idempotency_repo.add(session, record)
    except IntegrityError as exc:
        raise IdempotencyKeyInFlight(
            "another request with this Idempotency-Key was being processed; retry to get its answer"
        ) from exc
