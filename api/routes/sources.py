"""/v1/sources: who publishes leaks, and what each source published (security)."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SecurityActor, SessionDep
from api.schemas import PROBLEM_RESPONSES, Page
from service.desk import sources
from service.desk.leaks import LeakOrder
from service.desk.reports import LeakSummary
from service.desk.sources import SourceSummary

router = APIRouter(prefix="/v1/sources", tags=["security"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[SourceSummary])
def list_sources(
    _: SecurityActor,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[SourceSummary]:
    page = sources.list_sources(session, cursor=cursor, limit=limit)
    return Page[SourceSummary](items=page.items, next_cursor=page.next_cursor)


@router.get("/{domain}", response_model=Page[LeakSummary])
def leaks_of_source(
    domain: str,
    _: SecurityActor,
    session: SessionDep,
    sort: LeakOrder = LeakOrder.ACTIVITY,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[LeakSummary]:
    page = sources.leaks_of_source(session, domain, cursor=cursor, limit=limit, order=sort)
    return Page[LeakSummary](items=page.items, next_cursor=page.next_cursor)
