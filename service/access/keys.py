"""API keys: issuing, listing, revoking, and turning a presented key into an actor."""

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

from sqlmodel import Session

from service import values
from service.access import audit
from service.access.actors import Actor, Role
from service.errors import InvalidInput, KeyNotFound, NotAuthenticated
from storage.models import ApiKey
from storage.repositories import keys as keys_repo

KEY_PREFIX = "lsk_"
MIN_BOOTSTRAP_KEY_LENGTH = 24


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_row(name: str, role: Role, secret: str) -> ApiKey:
    name = values.text(name, "name", max_length=200)
    if not name:
        raise InvalidInput("a key needs a name")
    return ApiKey(name=name, role=role.value, secret_hash=_digest(secret))


def create_key(
    session: Session, actor: Actor, name: str, role: Role, *, now: datetime
) -> tuple[ApiKey, str]:
    """Issues a key; the secret is returned here and nowhere else, ever."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = keys_repo.add(session, _new_row(name, role, secret))
    audit.record(
        session, actor, "key.create", "key", row.id, at=now, role=role.value, name=row.name
    )
    return row, secret


def bootstrap_admin(session: Session, secret: str) -> bool:
    """Creates `secret` as an admin key when no key exists at all; True if it did."""
    if len(secret) < MIN_BOOTSTRAP_KEY_LENGTH:
        raise InvalidInput(
            f"LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY must have at least {MIN_BOOTSTRAP_KEY_LENGTH} characters"
        )
    if keys_repo.count(session) > 0:
        return False
    keys_repo.add(session, _new_row("bootstrap-admin", Role.ADMIN, secret))
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return keys_repo.list_all(session)


def revoke_key(session: Session, actor: Actor, key_id: UUID, *, now: datetime) -> ApiKey:
    row = keys_repo.get(session, key_id)
    if row is None:
        raise KeyNotFound(f"no key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()
        audit.record(session, actor, "key.revoke", "key", row.id, at=now)
    return row


def authenticate(session: Session, secret: str, remote_addr: str | None = None) -> Actor:
    row = keys_repo.find_active_by_hash(session, _digest(secret))
    if row is None:
        raise NotAuthenticated("the API key is unknown or revoked")
    return Actor(key_id=row.id, name=row.name, role=Role(row.role), remote_addr=remote_addr)


def actor_of_key(session: Session, key_id: UUID, remote_addr: str | None = None) -> Actor:
    """The actor behind a key already authenticated once (a dashboard session keeps the key's
    id, never the key): refused as soon as the key is revoked."""
    row = keys_repo.get(session, key_id)
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("the API key of this session is unknown or revoked")
    return Actor(key_id=row.id, name=row.name, role=Role(row.role), remote_addr=remote_addr)
