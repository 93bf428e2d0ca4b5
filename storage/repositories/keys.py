"""API key rows."""

from uuid import UUID

from sqlmodel import Session, col, func, select

from storage.models import ApiKey


def add(session: Session, key: ApiKey) -> ApiKey:
    session.add(key)
    session.flush()
    return key


def get(session: Session, key_id: UUID) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def find_active_by_hash(session: Session, secret_hash: str) -> ApiKey | None:
    statement = select(ApiKey).where(
        ApiKey.secret_hash == secret_hash, col(ApiKey.revoked_at).is_(None)
    )
    return session.exec(statement).first()


def list_all(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))))


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(ApiKey)).one()
