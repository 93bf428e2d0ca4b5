"""The `leaksentinel` command: serve the API, manage keys, fingerprint images locally."""

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
import uvicorn

from api.observability import configure_logging
from service import allocator, metrics
from service.access import keys
from service.access.actors import Actor, Role
from service.alerts.outbox import run_until_stopped
from service.detection import hashes
from service.detection.decode import decode
from service.detection.hashes import Fingerprint
from service.errors import DomainError
from service.evidence import bundle_check, chain
from service.ingest import sightings
from service.runtime import Runtime, close, open_runtime
from service.settings import Settings
from storage import migrate
from storage.db import transaction

app = typer.Typer(
    help="LeakSentinel: catches leaks of embargoed product images.", no_args_is_help=True
)
keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

CLI_ACTOR = Actor(key_id=None, name="cli", role=Role.ADMIN)

# glibc malloc options for the serving processes: (environment variable, mallopt option, value).
# By default each thread that allocates while another holds an arena gets an arena of its own, up
# to 8 per core, and keeps what is freed there for later; and once a large block has been freed,
# blocks up to its size stop being mapped apart and are cut from the arenas too. A worker's ~40
# threadpool threads spread request bodies (MiBs for a batch upload) over 16 arenas that way, and
# the free space they kept grew each worker by ~100 MiB in bench/load.py's three minutes while
# the live heap did not grow (malloc_info; malloc_trim handed it all back). Two arenas and a
# fixed threshold for mapping large blocks apart bound it (bench/README.md, "Memory").
# Higher thresholds (1 MiB, 32 MiB) would let the request processes reuse the pages of large
# buffers, but under bench/load.py the processes then grew ~15 MiB a minute for ten minutes
# (bench/README.md, "Memory"). The large buffers are avoided instead: uploads go to files
# (api/uploads.py).
MALLOC_OPTIONS = (
    ("MALLOC_ARENA_MAX", allocator.M_ARENA_MAX, 2),
    ("MALLOC_MMAP_THRESHOLD_", allocator.M_MMAP_THRESHOLD, 128 * 1024),
)


@contextmanager
def _runtime() -> Iterator[Runtime]:
    """The runtime of one command, closed on the way out (its connections, its decode pool)."""
    runtime = open_runtime(Settings())
    try:
        migrate.upgrade_to_head(runtime.engine)
        yield runtime
    finally:
        close(runtime)


def tune_malloc() -> None:
    """Sets MALLOC_OPTIONS in the environment, which the workers uvicorn spawns read as they
    start, and through mallopt in this process, which read its environment before this ran and
    serves by itself when there is one worker. An option the operator has set is left alone."""
    for name, option, value in MALLOC_OPTIONS:
        if name in os.environ:
            continue
        os.environ[name] = str(value)
        allocator.mallopt(option, value)  # changes nothing where glibc is not the C library


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Migrate the database, then serve the HTTP API."""
    tune_malloc()
    configure_logging(Settings().log_level)
    with _runtime() as runtime, runtime.sessions() as session:
        no_keys = not keys.list_keys(session)
    if no_keys and not runtime.settings.bootstrap_admin_key:
        typer.echo(
            "No API key exists yet. Create the first admin key with:\n"
            "  .venv/bin/leaksentinel keys create --role admin --name <your-name>\n"
            "(or start with LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY set to a secret of your choice)",
            err=True,
        )
    if workers > 1:
        metrics.share_between_workers(runtime.settings.data_dir)
    # The app logs JSON lines and one access line per request itself (api/observability.py);
    # uvicorn's own access log would print raw paths and queries.
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn would believe X-Forwarded-For from any local peer, so that any client on the
        # host could write the audit trail's addresses; the app takes the header only from
        # LEAKSENTINEL_TRUSTED_PROXIES (api/app.py).
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Deliver webhook alerts from the outbox until SIGINT or SIGTERM."""
    with _runtime() as runtime:
        logging.basicConfig(level=runtime.settings.log_level.upper())
        stop = threading.Event()
        # A signal only ends the wait between polls, or lets the attempt in flight finish: a
        # delivery is never left half recorded.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        typer.echo("delivering webhook alerts from the outbox; stop with Ctrl-C", err=True)
        run_until_stopped(runtime, stop)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, marketing, crawler or security.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
) -> None:
    """Create a key and print its secret (shown this once only)."""
    try:
        with _runtime() as runtime, transaction(runtime.sessions) as session:
            row, secret = keys.create_key(session, CLI_ACTOR, name, role, now=runtime.clock())
    except DomainError as exc:
        raise _fail(exc.detail) from exc
    typer.echo(f"created {row.role} key {row.id} ({row.name}); the key is shown once:", err=True)
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    with _runtime() as runtime, runtime.sessions() as session:
        for row in keys.list_keys(session):
            state = f"revoked {row.revoked_at.isoformat()}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.role:<9}  {state:<10}  {row.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: UUID) -> None:
    """Revoke a key by id; it stops working at once."""
    try:
        with _runtime() as runtime, transaction(runtime.sessions) as session:
            keys.revoke_key(session, CLI_ACTOR, key_id, now=runtime.clock())
    except DomainError as exc:
        raise _fail(exc.detail) from exc
    typer.echo(f"revoked {key_id}")


class PrintsFor(StrEnum):
    ASSET = "asset"
    SIGHTING = "sighting"


@app.command()
def fingerprint(
    image: Path,
    for_: Annotated[
        PrintsFor,
        typer.Option(
            "--for",
            help="asset: the variants to register with POST /v1/assets/fingerprints. "
            "sighting: an item for POST /v1/sightings/fingerprints (add page_url). "
            "Both include the local features, in their versioned text form.",
        ),
    ] = PrintsFor.ASSET,
) -> None:
    """Print an image's fingerprints as JSON: exactly what the server computes for it."""
    try:
        data = image.read_bytes()
        limits = Settings().image_limits
        if for_ is PrintsFor.SIGHTING:
            local = sightings.fingerprint_locally(data, limits)
            features = local.prints.local
            result: dict[str, object] = {
                "sha256": local.sha256,
                "low_information": local.prints.low_information,
                "fingerprints": _prints_json(local.prints.fingerprints),
                "local_features": features.to_text()
                if features is not None and len(features)
                else None,
            }
        else:
            decoded = decode(data, limits)
            prints = hashes.fingerprint_asset(decoded.pixels)
            found = [f for p in prints if (f := hashes.local_features_of(p)) is not None]
            result = {
                "sha256": decoded.sha256,
                "media_type": decoded.media_type,
                "width": decoded.width,
                "height": decoded.height,
                "fingerprints": _prints_json(
                    p for p in prints if p.algorithm in hashes.ALGORITHM_BITS
                ),
                "local_features": found[0].to_text() if found else None,
            }
    except OSError as exc:
        raise _fail(f"cannot read {image}: {exc.strerror}") from exc
    except DomainError as exc:
        raise _fail(exc.detail) from exc
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _prints_json(prints: Iterable[Fingerprint]) -> list[dict[str, str]]:
    return [{"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex} for f in prints]


@app.command()
def verify(
    full: Annotated[
        bool, typer.Option("--full", help="Walk the whole chain, not only what was added since.")
    ] = False,
) -> None:
    """Check the sighting chain from the last head found intact (or from its start, the first
    time or with --full) and record the new head; exit 1 naming the first record altered,
    removed or added."""
    with _runtime() as runtime, transaction(runtime.sessions) as session:
        report = chain.verify(session, full=full, now=runtime.clock())
    if report.fault is not None:
        typer.echo(f"chain broken after {report.records} intact records: {report.fault}", err=True)
        raise typer.Exit(code=1)
    since = f" (walked from the head verified at {report.since_seq})" if report.since_seq else ""
    typer.echo(f"chain intact: {report.records} records, head {report.head_seq}{since}")


@app.command("verify-bundle")
def verify_bundle(
    file: Annotated[Path, typer.Argument(help="An evidence zip from GET /v1/leaks/{id}/evidence.")],
) -> None:
    """Check an evidence bundle offline (no database); exit 1 naming the first bad entry."""
    try:
        report = bundle_check.verify_bundle(file)
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}") from exc
    if report.fault is not None:
        typer.echo(f"bundle does not verify: {report.fault}", err=True)
        raise typer.Exit(code=1)
    typer.echo(
        f"bundle verifies: leak {report.leak_id}, {report.records} records, "
        f"{report.images} images, chain head at export {report.head_seq}"
    )
