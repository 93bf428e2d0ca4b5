"""Every dependency a route can ask for, named once: runtime, session, caller and role guards."""

from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api import uploads
from api.problems import Forbidden
from api.schemas import BatchUpload, SightingUpload
from api.ui.session import COOKIE, Signer, UiSession
from service.access import dashboard_sessions, keys
from service.access.actors import Actor, Role
from service.errors import NotAuthenticated
from service.runtime import Runtime
from storage.db import transaction

# Dependencies that neither block nor touch the database are `async def`: FastAPI runs a plain
# `def` one on a worker thread, a hand-over each, and every request passes through several.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's one unit of work. Scope "function" makes the commit happen before the
    response is sent, so a 2xx always means the write is on disk."""
    with transaction(runtime.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_now(runtime: RuntimeDep) -> datetime:
    """The request's moment by the runtime's clock: what its audit entries and history say."""
    return runtime.clock()


NowDep = Annotated[datetime, Depends(get_now)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lsk_...`")


def get_actor(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("an API key is required: Authorization: Bearer <key>")
    remote = request.client.host if request.client else None
    actor = keys.authenticate(session, credentials.credentials, remote)
    # Counted only once the key is known, so guessing keys spends no real key's budget; and
    # before any role guard or route body, so a refused request changes nothing.
    runtime.rate_limiter.check(actor)
    # The key check has only read. Ending its transaction hands the pooled connection back, so
    # a request that next waits on its client (a slow multipart upload, read after this) holds
    # none: a few slow uploaders must not starve every other request of connections.
    session.commit()
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def _require(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = (*roles, Role.ADMIN)

    async def guard(actor: ActorDep) -> Actor:
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


# The dashboard (/ui): the same roles, from a signed session cookie instead of a bearer header.


class SignInRequired(Exception):
    """No valid dashboard session: the browser is sent to the sign-in page."""


class UiForbidden(Exception):
    def __init__(self, role: Role) -> None:
        super().__init__(f"a {role} key cannot see this page")
        self.role = role


class CsrfRejected(Exception):
    """A dashboard form posted without the token of the session it came from."""


async def get_signer(request: Request) -> Signer:
    signer: Signer = request.app.state.ui_signer
    return signer


SignerDep = Annotated[Signer, Depends(get_signer)]


async def get_ui_session(request: Request, signer: SignerDep) -> UiSession | None:
    return signer.load(request.cookies.get(COOKIE))


UiSessionDep = Annotated[UiSession | None, Depends(get_ui_session)]


def get_ui_actor(request: Request, session: SessionDep, ui_session: UiSessionDep) -> Actor:
    if ui_session is None or ui_session.key_id is None:
        raise SignInRequired
    if dashboard_sessions.has_ended(session, ui_session.nonce):  # signed out: a copied cookie
        raise SignInRequired
    remote = request.client.host if request.client else None
    try:
        # Looked up on every request, so revoking the key ends its sessions at once.
        return keys.actor_of_key(session, ui_session.key_id, remote)
    except NotAuthenticated as exc:
        raise SignInRequired from exc


UiActor = Annotated[Actor, Depends(get_ui_actor)]


def _ui_require(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = (*roles, Role.ADMIN)

    async def guard(actor: UiActor) -> Actor:
        if actor.role not in allowed:
            raise UiForbidden(actor.role)
        return actor

    return guard


UiSecurityActor = Annotated[Actor, Depends(_ui_require(Role.SECURITY))]
UiAssetReader = Annotated[Actor, Depends(_ui_require(Role.MARKETING, Role.SECURITY))]


def check_csrf(
    signer: SignerDep,
    ui_session: UiSessionDep,
    csrf_token: Annotated[str, Form()] = "",
) -> None:
    if not signer.csrf_ok(ui_session, csrf_token):
        raise CsrfRejected


CsrfChecked = Annotated[None, Depends(check_csrf)]


# Multipart forms received into the blob store's incoming files (api/uploads.py); a route that
# takes one also names `uploads.openapi_body(model)` as its `openapi_extra`.
SightingForm = Annotated[SightingUpload, Depends(uploads.receiving(SightingUpload))]
BatchForm = Annotated[BatchUpload, Depends(uploads.receiving(BatchUpload))]
