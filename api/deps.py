"""Every dependency a route can ask for, named once: runtime, session, caller and role guards."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service import keys
from service.actors import Actor, Role
from service.errors import NotAuthenticated
from service.runtime import Runtime
from storage.db import transaction


class Forbidden(Exception):
    def __init__(self, role: Role, allowed: tuple[Role, ...]) -> None:
        super().__init__(f"a {role} key may not do this; allowed roles: {', '.join(allowed)}")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's one unit of work. Scope "function" makes the commit happen before the
    response is sent, so a 2xx always means the write is on disk."""
    with transaction(runtime.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lsk_...`")


def get_actor(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("an API key is required: Authorization: Bearer <key>")
    remote = request.client.host if request.client else None
    return keys.authenticate(session, credentials.credentials, remote)


ActorDep = Annotated[Actor, Depends(get_actor)]


def _require(*roles: Role) -> Callable[[Actor], Actor]:
    allowed = (*roles, Role.ADMIN)

    def guard(actor: ActorDep) -> Actor:
        if actor.role not in allowed:
            raise Forbidden(actor.role, allowed)
        return actor

    return guard


AdminActor = Annotated[Actor, Depends(_require())]
MarketingActor = Annotated[Actor, Depends(_require(Role.MARKETING))]
AssetReader = Annotated[Actor, Depends(_require(Role.MARKETING, Role.SECURITY))]
CrawlerActor = Annotated[Actor, Depends(_require(Role.CRAWLER))]
SecurityActor = Annotated[Actor, Depends(_require(Role.SECURITY))]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string per logical request: a retry with the same key and body "
        "gets the first answer again and stores nothing twice.",
    ),
]
