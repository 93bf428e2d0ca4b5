"""/v1/keys: issuing and revoking API keys (admin)."""

from uuid import UUID

from fastapi import APIRouter, status

from api.deps import AdminActor, NowDep, SessionDep
from api.schemas import PROBLEM_RESPONSES, KeyCreate, KeyCreated, KeyOut, Page
from service.access import keys

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(body: KeyCreate, actor: AdminActor, session: SessionDep, now: NowDep) -> KeyCreated:
    row, secret = keys.create_key(session, actor, body.name, body.role, now=now)
    return KeyCreated.model_validate({**KeyOut.model_validate(row).model_dump(), "key": secret})


@router.get("", response_model=Page[KeyOut])
def list_keys(_: AdminActor, session: SessionDep) -> Page[KeyOut]:
    rows = keys.list_keys(session)
    return Page[KeyOut](items=[KeyOut.model_validate(r) for r in rows], next_cursor=None)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: UUID, actor: AdminActor, session: SessionDep, now: NowDep) -> None:
    keys.revoke_key(session, actor, key_id, now=now)
