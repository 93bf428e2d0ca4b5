"""The one place where errors become RFC 9457 problem details."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.uploads import MalformedForm
from service import errors
from service.access.actors import Role
from service.ingest.receipts import ItemProblem
from storage.db import is_unavailable

log = logging.getLogger(__name__)


class Forbidden(Exception):
    """A key of the wrong role: the route names the roles that may call it."""

    def __init__(self, role: Role, allowed: tuple[Role, ...]) -> None:
        super().__init__(f"a {role} key may not do this; allowed roles: {', '.join(allowed)}")


PROBLEM_JSON = "application/problem+json"

# What a client is told to wait while the database is away: long enough not to hammer it while
# it restarts, short enough that crawlers resume soon after (a pooled connection is replaced on
# its next checkout, so the service itself needs no restart).
DATABASE_RETRY_AFTER_SECONDS = 5

# A problem names at most this many invalid fields (and how many there were), each briefly, so
# its size stays a few KB whatever the body held.
MAX_ERRORS = 20
MAX_LOC_PARTS = 8
MAX_LOC_PART = 40
MAX_MSG = 200

_IMAGE_STATUS = {
    "too_large": 413,
    "too_many_pixels": 413,
    "decompression_bomb": 413,
    "unsupported_format": 415,
}


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = _body(status, code, detail, **extra)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of_class(kind: type[errors.DomainError], reason: str | None = None) -> int:
    if issubclass(kind, errors.ImageRejected):
        return _IMAGE_STATUS.get(reason or "", 422)
    if issubclass(kind, errors.NotAuthenticated):
        return 401
    if issubclass(kind, errors.NotFound):
        return 404
    if issubclass(kind, errors.Conflict):
        return 409
    if issubclass(kind, errors.InvalidCursor):
        return 400
    if issubclass(kind, errors.RateLimited):
        return 429
    return 422


def status_of(exc: errors.DomainError) -> int:
    """The HTTP status of a domain error: the one mapping, for the API and the dashboard alike."""
    return _status_of_class(type(exc), getattr(exc, "reason", None))


def _error_classes(
    kind: type[errors.DomainError] = errors.DomainError,
) -> dict[str, type[errors.DomainError]]:
    found: dict[str, type[errors.DomainError]] = {kind.code: kind}
    for sub in kind.__subclasses__():
        found.update(_error_classes(sub))
    return found


def item_problem(item: ItemProblem) -> dict[str, Any]:
    """A batch item's problem, shaped as the problem details a single request would get."""
    kind = _error_classes().get(item.code, errors.DomainError)
    status = _status_of_class(kind, item.reason)
    extra = {"reason": item.reason} if item.reason else {}
    return _body(status, item.code, item.detail, **extra)


def _body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:leaksentinel:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.ImageRejected):
        extra["reason"] = exc.reason
    if isinstance(exc, errors.DuplicateAsset):
        extra["asset_id"] = exc.existing_id
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
        extra["retry_after"] = exc.retry_after
    return problem(status_of(exc), exc.code, exc.detail, headers, **extra)


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return problem(403, "forbidden", str(exc))


async def _malformed_form(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MalformedForm)
    return problem(400, "malformed-form", exc.detail)


def _short(value: object, limit: int) -> object:
    # A member name or message can be as long as the body that carried it.
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    every = exc.errors()
    # A list of a thousand bad items would otherwise answer with a thousand errors.
    found: list[dict[str, Any]] = [
        {
            "loc": [_short(part, MAX_LOC_PART) for part in e.get("loc", ())][:MAX_LOC_PARTS],
            "msg": _short(e.get("msg", ""), MAX_MSG),
            "type": _short(e.get("type", ""), MAX_MSG),
        }
        for e in every[:MAX_ERRORS]
    ]
    count = len(every)
    if any(e.get("type") == "json_invalid" for e in every):
        detail = "the request body is not valid JSON"
        return problem(400, "malformed-json", detail, errors=found, error_count=count)
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in found[:5])
    detail = summary or "the request is invalid"
    return problem(422, "validation-failed", detail, errors=found, error_count=count)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = "body-too-large" if exc.status_code == 413 else f"http-{exc.status_code}"
    return problem(exc.status_code, code, str(exc.detail))


async def _database(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not is_unavailable(exc):
        return await _unexpected(request, exc)
    # The driver's own words only: the wrapping error's text carries the statement's parameters.
    reason = str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__
    log.warning("database unavailable: %s", reason)
    return problem(
        503,
        "database-unavailable",
        "the database is unavailable; try again later",
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        retry_after=DATABASE_RETRY_AFTER_SECONDS,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal-error", "an unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(MalformedForm, _malformed_form)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _unexpected)
