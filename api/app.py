"""The application factory: settings in, a FastAPI app with every route and handler out."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import metrics_listener, observability, problems
from api.limits import BodySizeLimit
from api.routes import (
    assets,
    audit,
    evidence,
    health,
    keys,
    leaks,
    sightings,
    sources,
    webhooks,
)
from api.ui import mount as dashboard
from service import runtime as runtime_service
from service.alerts import outbox
from service.decoding import DecodePool
from service.ingest import match_queue
from service.runtime import Clock
from service.settings import Settings

# Room for the multipart envelope and form fields around an upload of the maximum size.
FORM_OVERHEAD_BYTES = 256 * 1024

TAGS = [
    {"name": "admin", "description": "API keys. Admin keys may also call every other route."},
    {"name": "marketing", "description": "Registering embargoed assets and moving embargoes."},
    {"name": "crawler", "description": "Posting images found online."},
    {"name": "security", "description": "Working leak reports."},
    {"name": "ops", "description": "Liveness and readiness (no key); metrics (admin)."},
]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    decoder: DecodePool | None = None,
) -> FastAPI:
    settings = settings or Settings()
    observability.configure_logging(settings.log_level)
    runtime = runtime_service.open_runtime(settings, clock, decoder)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(runtime_service.start, runtime)
        if settings.metrics_address is not None:
            runtime.background.append(metrics_listener.start(runtime, *settings.metrics_address))
        if settings.run_outbox_worker:
            outbox.start_background(runtime)
        match_queue.start_background(runtime)
        try:
            yield
        finally:
            runtime_service.close(runtime)

    app = FastAPI(
        title="LeakSentinel",
        version="0.1.0",
        summary="Catches leaks of embargoed product images before launch.",
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
        max_other_bytes=settings.max_json_body_bytes,
        per_path={"/v1/sightings/batch": settings.max_batch_bytes},
        # Local features are long base64 strings (up to 48 KB an image): many bytes, few values.
        json_per_path={
            "/v1/sightings/fingerprints": settings.max_fingerprints_body_bytes,
            "/v1/assets/fingerprints": settings.max_fingerprints_body_bytes,
        },
    )
    # The client's address (audit trail, dashboard) and scheme (secure cookies) from
    # X-Forwarded-For and -Proto, only when the peer is a trusted proxy: anyone can send them.
    # Here rather than in uvicorn, whose default trusts every local peer (cli/main.py).
    app.add_middleware(
        ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies]
    )
    # Added last, so outermost: it counts and times what the other middleware answer too.
    app.add_middleware(observability.RequestObservation)
    problems.install(app)
    for module in (health, keys, assets, sightings, leaks, evidence, sources, audit, webhooks):
        app.include_router(module.router)
    dashboard.install(app, settings, runtime.clock)
    return app
