"""/v1/leaks: leak reports and their triage (security)."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from api.deps import NowDep, RuntimeDep, SecurityActor, SessionDep
from api.downloads import attachment, file_response
from api.schemas import PROBLEM_RESPONSES, LeakPatch, Page
from service.desk import exports, leaks
from service.desk.leaks import LeakOrder
from service.desk.reports import LeakDetail, LeakList, SightingEntry
from storage.repositories.leaks import LeakFilter

router = APIRouter(prefix="/v1/leaks", tags=["security"], responses=PROBLEM_RESPONSES)


@router.get(
    "",
    response_model=LeakList,
    responses=file_response(
        "text/csv",
        "With `format=csv`: every matching leak in the same order, one header row, up to "
        f"{exports.MAX_CSV_ROWS} rows (more is a 422: narrow the filters).",
    ),
)
def list_leaks(
    actor: SecurityActor,
    session: SessionDep,
    now: NowDep,
    status: str | None = None,
    asset_id: UUID | None = None,
    product: str | None = None,
    domain: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    sort: Annotated[
        LeakOrder,
        Query(description="`activity`: newest activity first; `first_seen`: earliest first."),
    ] = LeakOrder.ACTIVITY,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    output: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="`csv`: every matching leak as a CSV download."),
    ] = "json",
) -> LeakList | StreamingResponse:
    leak_filter = LeakFilter(status, asset_id, product, domain, since, until)
    if output == "csv":
        return attachment(exports.leaks_csv(session, actor, leak_filter, order=sort, now=now))
    return leaks.report_leaks(session, leak_filter, cursor=cursor, limit=limit, order=sort)


@router.get("/{leak_id}", response_model=LeakDetail)
def get_leak(
    leak_id: UUID, _: SecurityActor, runtime: RuntimeDep, session: SessionDep
) -> LeakDetail:
    size = runtime.settings.leak_sightings_page_size
    return leaks.get_leak(session, leak_id, sightings_limit=size)


@router.get("/{leak_id}/sightings", response_model=Page[SightingEntry])
def list_leak_sightings(
    leak_id: UUID,
    _: SecurityActor,
    session: SessionDep,
    cursor: Annotated[
        str | None,
        Query(description="A `sightings_next_cursor` or `next_cursor`; none: the first page."),
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[SightingEntry]:
    page = leaks.leak_sightings(session, leak_id, cursor=cursor, limit=limit)
    return Page[SightingEntry](items=page.items, next_cursor=page.next_cursor)


@router.patch("/{leak_id}", response_model=LeakDetail)
def update_leak(
    leak_id: UUID,
    body: LeakPatch,
    actor: SecurityActor,
    runtime: RuntimeDep,
    session: SessionDep,
    now: NowDep,
) -> LeakDetail:
    change = leaks.LeakChange(status=body.status, assignee=body.assignee, note=body.note)
    return leaks.update_leak(
        session,
        actor,
        leak_id,
        change,
        now=now,
        base_url=runtime.settings.public_base_url,
        sightings_limit=runtime.settings.leak_sightings_page_size,
    )
