"""Mounting the dashboard on the app: its routes, static files and error pages."""

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import CsrfRejected, SignInRequired, UiForbidden
from api.ui import pages, sign_in
from api.ui.render import page
from api.ui.session import signer_for
from service.runtime import Clock
from service.settings import Settings


async def _sign_in(_: Request, __: Exception) -> Response:
    return RedirectResponse("/ui/login", status_code=303)


async def _forbidden(_: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, UiForbidden)
    return page(
        "error.html",
        403,
        me=None,
        title="Not for this key",
        detail=f"A {exc.role} key cannot see this page.",
        back=sign_in.landing(exc.role),
    )


async def _csrf(_: Request, __: Exception) -> HTMLResponse:
    return page(
        "error.html",
        403,
        me=None,
        title="Form refused",
        detail="The form was out of date or did not come from this dashboard, so nothing was "
        "changed. Go back, reload the page and try again.",
        back="/ui",
    )


async def _page_error(_: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, pages.PageError)
    titles = {400: "Bad link", 401: "Not signed in", 404: "Not found", 409: "Not possible"}
    return page(
        "error.html",
        exc.status_code,
        me=None,
        title=titles.get(exc.status_code, "Not accepted"),
        detail=exc.detail,
        back="/ui",
    )


def install(app: FastAPI, settings: Settings, clock: Clock) -> None:
    app.state.ui_signer = signer_for(settings, clock)
    app.include_router(sign_in.router)
    app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(packages=[("api", "static")]), name="ui-static")
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(UiForbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf)
    app.add_exception_handler(pages.PageError, _page_error)
