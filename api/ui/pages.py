"""The dashboard's pages: the leak queue, a leak's review page and its triage, sources,
assets, and the thumbnails those pages show (signing in and out is sign_in.py). Every read and
write goes through the same service functions as the API."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import (
    CsrfChecked,
    RuntimeDep,
    SessionDep,
    SignerDep,
    UiAssetReader,
    UiSecurityActor,
    UiSessionDep,
)
from api.problems import status_of
from api.ui import present
from api.ui.render import page
from api.ui.session import Signer, UiSession
from service import assets, thumbnails
from service.access.actors import Actor, Role
from service.desk import leaks, sources
from service.desk.leaks import STATUSES, TRANSITIONS, LeakChange
from service.desk.reports import LeakDetail, LeakSummary
from service.errors import (
    DomainError,
)
from storage.repositories.leaks import LeakFilter

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 50
# The queue with no status filter: leaks waiting for a first look, then those being worked,
# then the closed ones.
QUEUE_ORDER = ("open", "confirmed", "takedown_requested", "false_positive", "resolved")
# Side-by-side comparisons drawn on a leak's page; the table below it lists the page's sightings.
MAX_COMPARISONS = 24
# A found image's thumbnail never changes for the id it is served under, and the image was
# public: the browser alone may keep it a while. An asset's is confidential: nobody keeps it.
_IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
}
FOUND_THUMBNAIL_HEADERS = {**_IMAGE_HEADERS, "Cache-Control": "private, max-age=3600"}
ASSET_THUMBNAIL_HEADERS = {**_IMAGE_HEADERS, "Cache-Control": "no-store"}


class PageError(Exception):
    """A domain error met by a page: shown as an HTML page with the matching status."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@contextmanager
def shown_as_page() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        raise PageError(status_of(exc), exc.detail) from exc


def _id(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as exc:
        raise PageError(404, f"no {what} with id {text}") from exc


def _frame(
    actor: Actor, signer: Signer, ui_session: UiSession | None, section: str
) -> dict[str, Any]:
    """What the page frame (navigation, sign-out form) needs."""
    assert ui_session is not None  # an actor comes from a session
    return {
        "me": actor,
        "can_review": actor.role in (Role.SECURITY, Role.ADMIN),
        "csrf": signer.csrf_token(ui_session),
        "section": section,
    }


# The leak queue


@dataclass(frozen=True)
class Queue:
    items: list[LeakSummary]
    next_cursor: str | None
    totals: dict[str, int]


def _queue(session: SessionDep, leak_filter: LeakFilter, cursor: str | None) -> Queue:
    """One page of the queue. Filtered by status, it is the API's list; unfiltered, it walks
    QUEUE_ORDER, one status after the other, with a cursor of the status's place and the
    API's own cursor within it."""
    if leak_filter.status:
        listed = leaks.report_leaks(session, leak_filter, cursor=cursor, limit=PAGE_SIZE)
        return Queue(list(listed.items), listed.next_cursor, listed.totals)
    index, inner = _split_cursor(cursor)
    totals = leaks.report_leaks(session, leak_filter, limit=1).totals
    items: list[LeakSummary] = []
    while index < len(QUEUE_ORDER):
        status = QUEUE_ORDER[index]
        if len(items) == PAGE_SIZE:
            break
        if totals.get(status, 0) == 0:
            index, inner = index + 1, None
            continue
        listed = leaks.report_leaks(
            session, replace(leak_filter, status=status), cursor=inner, limit=PAGE_SIZE - len(items)
        )
        items += listed.items
        if listed.next_cursor:
            return Queue(items, f"{index}:{listed.next_cursor}", totals)
        index, inner = index + 1, None
    more = any(totals.get(s, 0) for s in QUEUE_ORDER[index:])
    return Queue(items, f"{index}:" if more else None, totals)


def _split_cursor(cursor: str | None) -> tuple[int, str | None]:
    if not cursor:
        return 0, None
    head, _, inner = cursor.partition(":")
    if not head.isdigit() or int(head) >= len(QUEUE_ORDER):
        raise PageError(400, "the page link is not one this dashboard made")
    return int(head), inner or None


@router.get("/leaks")
def leak_queue(
    actor: UiSecurityActor,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    status: str = "",
    product: str = "",
    domain: str = "",
    asset_id: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    if status and status not in STATUSES:
        raise PageError(422, f"unknown status {status!r}")
    leak_filter = LeakFilter(
        status=status or None,
        asset_id=_id(asset_id, "asset") if asset_id else None,
        product=product.strip() or None,
        domain=domain.strip().lower() or None,
    )
    with shown_as_page():
        queue = _queue(session, leak_filter, cursor)
    filters = {
        "status": status,
        "product": product.strip(),
        "domain": domain.strip(),
        "asset_id": asset_id,
    }
    return page(
        "leaks.html",
        **_frame(actor, signer, ui_session, "leaks"),
        queue=queue,
        filters=filters,
        statuses=QUEUE_ORDER,
        all_count=sum(queue.totals.values()),
        paged=cursor is not None,
    )


# One leak


@router.get("/leaks/{leak_id}")
def leak_page(
    leak_id: str,
    actor: UiSecurityActor,
    runtime: RuntimeDep,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    saved: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    with shown_as_page():
        detail = leaks.get_leak(
            session,
            _id(leak_id, "leak"),
            sightings_cursor=cursor,
            sightings_limit=runtime.settings.leak_sightings_page_size,
        )
        asset = assets.get_asset(session, detail.asset.id)
    by_time = detail.sightings  # one page, in publication order
    first_id = _first_id(detail, paged=cursor is not None)
    comparisons = [
        {
            "sighting": s,
            "region": present.region_box(s.region),
            "polygon": present.svg_points(s.region_polygon),
            "variant": present.variant_box(s.variant),
            "has_image": thumbnails.found_image_kept(runtime.blobs, s.sha256),
        }
        for s in by_time[:MAX_COMPARISONS]
    ]
    current = detail.status
    actions = [
        {"status": s, "allowed": s in TRANSITIONS[current]} for s in STATUSES if s != current
    ]
    return page(
        "leak.html",
        **_frame(actor, signer, ui_session, "leaks"),
        leak=detail,
        asset=asset,
        comparisons=comparisons,
        more_sightings=max(0, len(by_time) - MAX_COMPARISONS),
        sightings=by_time,
        timeline=present.timeline(by_time, detail.asset.embargo_until, first_id),
        first_id=first_id,
        paged=cursor is not None,
        actions=actions,
        rect=present.svg_rect,
        saved=saved == "1",
        now=runtime.clock(),
    )


def _first_id(detail: LeakDetail, *, paged: bool) -> UUID | None:
    """The sighting the report names as first publisher: the earliest published, so the head
    of the first page; a later page does not hold it."""
    return detail.sightings[0].id if detail.sightings and not paged else None


@router.post("/leaks/{leak_id}")
def triage(
    leak_id: str,
    actor: UiSecurityActor,
    _: CsrfChecked,
    runtime: RuntimeDep,
    session: SessionDep,
    status: Annotated[str | None, Form()] = None,
    assignee: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    target = _id(leak_id, "leak")
    change = LeakChange(status=status or None, assignee=assignee, note=(note or "").strip() or None)
    with shown_as_page():
        leaks.update_leak(
            session,
            actor,
            target,
            change,
            now=runtime.clock(),
            base_url=runtime.settings.public_base_url,
        )
    # Post, redirect, get: a reload does not repeat the action.
    return RedirectResponse(f"/ui/leaks/{target}?saved=1", status_code=303)


# Sources and assets


@router.get("/sources")
def source_ranking(
    actor: UiSecurityActor,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    cursor: str | None = None,
) -> HTMLResponse:
    with shown_as_page():
        ranked = sources.list_sources(session, cursor=cursor, limit=PAGE_SIZE)
    return page(
        "sources.html",
        **_frame(actor, signer, ui_session, "sources"),
        sources=ranked.items,
        next_cursor=ranked.next_cursor,
        paged=cursor is not None,
    )


@router.get("/assets")
def asset_list(
    actor: UiAssetReader,
    runtime: RuntimeDep,
    session: SessionDep,
    signer: SignerDep,
    ui_session: UiSessionDep,
    product: str = "",
    status: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    with shown_as_page():
        listed = assets.list_assets(
            session,
            product=product.strip() or None,
            status=status or None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        # Counts only, from the same report the API gives; a marketing key sees how many
        # leaks an asset has, never their sources.
        totals = {
            a.id: leaks.report_leaks(session, LeakFilter(asset_id=a.id), limit=1).totals
            for a in listed.items
        }
    now = runtime.clock()
    rows = [
        {
            "asset": a,
            "countdown": present.countdown(a.embargo_until, now),
            "embargoed": a.embargo_until > now and a.status == "active",
            "leaks": sum(n for s, n in totals[a.id].items() if s != "false_positive"),
            "open": totals[a.id].get("open", 0),
        }
        for a in listed.items
    ]
    return page(
        "assets.html",
        **_frame(actor, signer, ui_session, "assets"),
        rows=rows,
        filters={"product": product.strip(), "status": status},
        next_cursor=listed.next_cursor,
        paged=cursor is not None,
    )


# Thumbnails: small re-encoded JPEGs made by the service, never the bytes as received.


@router.get("/assets/{asset_id}/thumbnail.jpg")
def asset_thumbnail(
    asset_id: str, _: UiAssetReader, runtime: RuntimeDep, session: SessionDep
) -> Response:
    with shown_as_page():
        data = thumbnails.asset_thumbnail(runtime.blobs, session, _id(asset_id, "asset"))
    if data is None:
        raise PageError(404, "this asset has no review thumbnail")
    return Response(data, media_type="image/jpeg", headers=ASSET_THUMBNAIL_HEADERS)


@router.get("/sightings/{sighting_id}/thumbnail.jpg")
def found_image_thumbnail(
    sighting_id: str, _: UiSecurityActor, runtime: RuntimeDep, session: SessionDep
) -> Response:
    with shown_as_page():
        data = thumbnails.found_image_thumbnail(
            runtime.blobs, runtime.settings.image_limits, session, _id(sighting_id, "sighting")
        )
    if data is None:
        raise PageError(404, "this sighting was sent as fingerprints only: there is no image")
    return Response(data, media_type="image/jpeg", headers=FOUND_THUMBNAIL_HEADERS)
