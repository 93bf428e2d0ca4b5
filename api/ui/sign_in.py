"""Signing in to the dashboard with an API key, and out again; where each role lands."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import CsrfChecked, NowDep, SessionDep, SignerDep, UiActor, UiSessionDep
from api.ui.render import page
from api.ui.session import Signer, UiSession, clear_cookie, set_cookie
from service.access import dashboard_sessions, keys
from service.access.actors import Role
from service.errors import NotAuthenticated

router = APIRouter(prefix="/ui", include_in_schema=False)

MAX_KEY_LENGTH = 512


def landing(role: Role) -> str:
    return "/ui/assets" if role == Role.MARKETING else "/ui/leaks"


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("")
def home(actor: UiActor) -> RedirectResponse:
    return RedirectResponse(landing(actor.role), status_code=303)


@router.get("/login")
def login_form(
    request: Request, session: SessionDep, signer: SignerDep, ui_session: UiSessionDep
) -> Response:
    if ui_session is not None and ui_session.key_id is not None:
        try:
            actor = keys.actor_of_key(session, ui_session.key_id)
            return RedirectResponse(landing(actor.role), status_code=303)
        except NotAuthenticated:
            ui_session = None
    return _login_page(request, signer, ui_session)


def _login_page(
    request: Request,
    signer: Signer,
    ui_session: UiSession | None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    anonymous = ui_session if ui_session is not None and not ui_session.signed_in else None
    state = anonymous or signer.new(None)
    response = page("login.html", status_code, me=None, csrf=signer.csrf_token(state), error=error)
    if state is not anonymous:
        set_cookie(response, request, signer, state)
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    _: CsrfChecked,
    api_key: Annotated[str, Form()] = "",
) -> Response:
    secret = api_key.strip()
    if not secret or len(secret) > MAX_KEY_LENGTH:
        return _login_page(request, signer, ui_session, "Paste an API key to sign in.", 401)
    try:
        actor = keys.authenticate(session, secret, _remote(request))
    except NotAuthenticated:
        return _login_page(request, signer, ui_session, "That key is unknown or revoked.", 401)
    if actor.role == Role.CRAWLER:
        return _login_page(
            request,
            signer,
            ui_session,
            "Crawler keys cannot sign in to the dashboard. Use a security, marketing or admin key.",
            403,
        )
    response = RedirectResponse(landing(actor.role), status_code=303)
    # A new nonce on sign-in: a token seen before it is worthless after.
    set_cookie(response, request, signer, signer.new(actor.key_id))
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    _: CsrfChecked,
    now: NowDep,
) -> RedirectResponse:
    if ui_session is not None and ui_session.signed_in:
        dashboard_sessions.sign_out(
            session,
            ui_session.nonce,
            ui_session.key_id,
            now=now,
            expires_at=datetime.fromtimestamp(ui_session.issued_at + signer.session_seconds, UTC),
        )
    response = RedirectResponse("/ui/login", status_code=303)
    clear_cookie(response, request)
    return response
