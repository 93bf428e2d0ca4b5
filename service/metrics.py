"""Prometheus metrics: the counters the service bumps, and the text that /metrics serves."""

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service.errors import ImageRejected
from service.runtime import Runtime
from storage.db import after_commit
from storage.repositories import index_state, pending_matches

# prometheus_client picks in-memory or shared-file values from this variable when it is imported,
# so it is read once here too: the exposition must read the values where they are kept.
# `leaksentinel serve --workers N` sets it before the workers start (see cli/main.py).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = MULTIPROC_ENV in os.environ

HTTP_REQUESTS = Counter(
    "leaksentinel_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "leaksentinel_http_request_duration_seconds",
    "Time from request to the end of the response, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SIGHTINGS = Counter(
    "leaksentinel_sightings",
    "New sightings stored (committed); duplicates of stored ones are not counted.",
)
LEAKS_OPENED = Counter("leaksentinel_leaks_opened", "Leak reports opened (committed).")
DECODE_REJECTIONS = Counter(
    "leaksentinel_decode_rejections",
    "Uploaded images refused before anything was stored, by the check that refused them.",
    ["reason"],
)


def count_sightings_on_commit(session: Session, new: int) -> None:
    """Counted once the transaction commits: a rolled-back request stored nothing."""
    if new:
        after_commit(session, lambda: SIGHTINGS.inc(new))


def count_leak_opened_on_commit(session: Session) -> None:
    after_commit(session, LEAKS_OPENED.inc)


def count_rejection(exc: ImageRejected) -> None:
    # `reason` comes from a fixed set in service/imaging.py, service/thumbnails.py,
    # service/decoding.py and service/assets.py, never from the upload itself, so the label's
    # cardinality stays bounded.
    DECODE_REJECTIONS.labels(reason=exc.reason).inc()


class _IndexCollector(Collector):
    """The index gauges of the process answering the scrape, read at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable[Metric]:
        size = GaugeMetricFamily(
            "leaksentinel_index_fingerprints",
            "Fingerprints in this process's match index.",
            value=len(self.runtime.replica.index),
        )
        yield size
        try:
            with self.runtime.sessions() as session:
                generation = index_state.current(session)
                pending = pending_matches.count(session)
        except SQLAlchemyError:
            # Database away: the lag is unknown, and a made-up number would mislead an alert.
            return
        yield GaugeMetricFamily(
            "leaksentinel_index_generation_lag_seconds",
            "Seconds this process's match index is behind the database's newest asset change "
            "(0 when current; otherwise an upper bound: time since it was last known current).",
            value=self.runtime.replica.lag_seconds(generation),
        )
        yield GaugeMetricFamily(
            "leaksentinel_pending_matches",
            "Sightings received and not yet matched, in every process (service/ingest/match_queue.py).",
            value=pending,
        )


class _DefaultRegistry(Collector):
    """The process's own registry, as one collector of the per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())


def exposition(runtime: Runtime) -> bytes:
    """Prometheus text for one scrape: counters of every worker process when they share a
    folder, this process's otherwise; index gauges of this process in both cases."""
    # No describe pass: it would collect (and read the database) once more per scrape.
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_DefaultRegistry())
    registry.register(_IndexCollector(runtime))
    return generate_latest(registry)


def share_between_workers(data_dir: Path) -> None:
    """Called by `serve --workers N` before the workers start: each worker then keeps its values
    in files of one folder, and a scrape of any worker adds up all of them. The files of an
    earlier run are removed, so the counters start at zero with the server, as they would in one
    process. Honours a folder the operator set already."""
    folder = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "prometheus")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
