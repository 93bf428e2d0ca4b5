"""/healthz and /readyz (liveness, readiness: no key) and /metrics (Prometheus text: admin)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import AdminActor, RuntimeDep
from api.schemas import PROBLEM_RESPONSES, Health, Readiness
from service import metrics
from service import runtime as runtime_service

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    readiness = runtime_service.readiness(runtime)
    body = Readiness(status="ready" if all(readiness.values()) else "not_ready", **readiness)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."},
        **PROBLEM_RESPONSES,
    },
)
def prometheus_metrics(_: AdminActor, runtime: RuntimeDep) -> Response:
    # Admin only: counters such as leaks opened move when a crawler's picture matched.
    # A keyless scraper gets its own listener (LEAKSENTINEL_METRICS_LISTEN, api/metrics_listener.py).
    return Response(metrics.exposition(runtime), media_type=CONTENT_TYPE_LATEST)
