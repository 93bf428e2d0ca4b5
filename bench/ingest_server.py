"""The server under benchmark: a fresh database, its keys and assets, and the checks afterwards."""

import datetime
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from testing.server import verify as run_verify

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("leaksentinel"))


@contextmanager
def fresh_database(url: str | None) -> Iterator[str | None]:
    """None for SQLite in the data folder; else a new database on that PostgreSQL server."""
    if url is None:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"bench_{secrets.token_hex(6)}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def admin_key(env: dict[str, str]) -> str:
    """The first admin key, from the CLI before the server starts. Not through
    LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY: with --workers 2 on an empty database both workers insert
    that key at start, and the one that loses the race (UNIQUE api_keys.secret_hash) stops the
    whole server."""
    done = subprocess.run(
        [CLI, "keys", "create", "--role", "admin", "--name", "bench"],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


def setup_keys(base_url: str, admin: str) -> dict[str, str]:
    made = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin}"}) as http:
        for role in ("marketing", "crawler"):
            response = http.post("/v1/keys", json={"name": f"bench {role}", "role": role})
            response.raise_for_status()
            made[role] = response.json()["key"]
    return made


def register_assets(base_url: str, key: str, photos: Sequence[tuple[Path, bytes]]) -> None:
    embargo = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:
        for path, data in photos:
            response = http.post(
                "/v1/assets",
                files={"file": (path.name, data, "image/jpeg")},
                data={
                    "name": f"{path.parent.name}/{path.name}",
                    "product": "bench",
                    "embargo_until": embargo.isoformat(),
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"asset {path}: {response.status_code} {response.text}")


def drain_seconds(base_url: str, key: str, timeout: float = 600.0) -> float:
    """Seconds from the end of the load until no sighting waits to be matched: matching runs
    after the receipt (service/ingest/match_queue.py), so a load the matcher cannot keep up with shows
    here, not in the receipts' rate."""
    started = time.monotonic()
    pending = re.compile(rb"^leaksentinel_pending_matches (\S+)$", re.MULTILINE)
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        while time.monotonic() - started < timeout:
            found = pending.search(http.get("/metrics").content)
            if found is not None and float(found.group(1)) == 0:
                return time.monotonic() - started
            time.sleep(0.1)
    raise RuntimeError(f"sightings still waited to be matched {timeout:.0f} s after the load")


def leaked_sightings(base_url: str, key: str) -> tuple[int, int]:
    """(leak reports, sightings in them): proof that matching ran against the index."""
    reports = sightings = 0
    cursor = None
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = http.get("/v1/leaks", params=params)
            response.raise_for_status()
            page = response.json()
            reports += len(page["items"])
            sightings += sum(item["sightings_count"] for item in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return reports, sightings


def verify(env: dict[str, str]) -> tuple[bool, int | None, str]:
    """`leaksentinel verify` on the run's database: (passed, records in the chain, its words)."""
    done = run_verify(env, timeout=1800)  # a long run's chain takes minutes to walk
    output = (done.stdout + done.stderr).strip()
    counted = re.search(r"chain intact: (\d+) records", output)
    return done.returncode == 0, int(counted[1]) if counted else None, output
