"""A real server killed with SIGKILL under load loses no sighting it acknowledged."""

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx2 as httpx
import pytest
from sqlmodel import Session, select

from service.detection.decode import ImageLimits
from service.ingest.sightings import LocalPrints, fingerprint_locally
from storage.db import make_engine
from storage.models import Sighting
from testing.images import jpeg
from testing.server import Server, issue_keys
from testing.server import verify as verify_cli
from tests.api_client import auth
from tests.leaked_asset import asset_form, leaked_copy, leaks_of

pytestmark = pytest.mark.slow

CRAWLERS = 6
# Load runs at least this long before the kill, so requests of every kind are in flight.
LOAD_SECONDS = 1.5
# Only a bound for a stalled server: reaching it fails the test, it never paces it.
LOAD_DEADLINE_SECONDS = 25.0
MAX_REQUESTS_PER_CRAWLER = 400
UPLOADS_PER_BATCH = 4
ITEMS_PER_HASH_BATCH = 8
# Small images keep the load phase short on two cores; they are still far above "tiny".
FOUND_SIZE = (320, 240)


@dataclass
class Ledger:
    """What the crawlers were told: every acknowledged sighting, and anything unexpected."""

    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Acknowledged sighting id -> SHA-256 of the uploaded bytes; None for a hash-only sighting.
    acknowledged: dict[UUID, str | None] = field(default_factory=dict)
    copies: set[UUID] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    # Requests that got no answer because the server died under them: unacknowledged.
    cut_off: int = 0
    unexpected: list[str] = field(default_factory=list)

    def ack(self, kind: str, receipt: dict[str, Any], sent_sha256: str | None, copy: bool) -> None:
        with self.lock:
            if receipt["sha256"] != sent_sha256:
                self.unexpected.append(f"{kind}: receipt {receipt} for bytes {sent_sha256}")
            sighting_id = UUID(receipt["id"])
            self.acknowledged[sighting_id] = sent_sha256 if kind != "fingerprints" else None
            self.kinds[kind] += 1
            if copy:
                self.copies.add(sighting_id)

    def note(self, problem: str) -> None:
        with self.lock:
            self.unexpected.append(problem)

    def ready_to_kill(self) -> bool:
        with self.lock:
            return len(self.kinds) == 3 and bool(self.copies)

    def summary(self) -> str:
        with self.lock:
            return (
                f"{len(self.acknowledged)} sightings acknowledged ({dict(self.kinds)}, "
                f"{len(self.copies)} leaked copies) in {self.requests} requests, "
                f"{self.cut_off} requests cut off by the kill"
            )


class Crawler:
    """One crawler thread: single uploads, upload batches and hash-only batches in turn, each
    image and page new, every fifth image a copy of the asset, until the server is killed."""

    def __init__(
        self, number: int, base_url: str, key: str, prints: list[LocalPrints], ledger: Ledger
    ) -> None:
        self.number = number
        self.base_url = base_url
        self.key = key
        self.prints = prints
        self.ledger = ledger
        self.copy = leaked_copy()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=auth(self.key), timeout=60) as http:
            for n in range(MAX_REQUESTS_PER_CRAWLER):
                if self.ledger.killed.is_set():
                    return
                page = f"https://crawler{self.number}.example.net/{n}"
                submit = (self.upload, self.batch, self.fingerprints)[n % 3]
                with self.ledger.lock:
                    self.ledger.requests += 1
                try:
                    submit(http, n, page)
                except httpx.TransportError as exc:
                    if self.ledger.killed.is_set():
                        with self.ledger.lock:
                            self.ledger.cut_off += 1
                        return
                    self.ledger.note(f"{page}: {type(exc).__name__} before the kill: {exc}")

    def image(self, n: int, item: int) -> tuple[bytes, bool]:
        if (n + item) % 5 == 0:
            return self.copy, True
        seed = 10_000 + self.number * 10_000 + n * 10 + item
        return jpeg(seed, size=FOUND_SIZE), False

    def upload(self, http: httpx.Client, n: int, page: str) -> None:
        data, copy = self.image(n, 0)
        response = http.post(
            "/v1/sightings",
            files={"file": ("found.jpg", data, "image/jpeg")},
            data={"page_url": page},
        )
        if response.status_code != 201:
            self.ledger.note(f"upload {page}: {response.status_code} {response.text[:300]}")
            return
        self.ledger.ack("upload", response.json(), sha256(data), copy)

    def batch(self, http: httpx.Client, n: int, page: str) -> None:
        images = [self.image(n, item) for item in range(UPLOADS_PER_BATCH)]
        manifest = [
            {"filename": f"{item}.jpg", "page_url": f"{page}/{item}"}
            for item in range(UPLOADS_PER_BATCH)
        ]
        response = http.post(
            "/v1/sightings/batch",
            files=[
                ("files", (f"{item}.jpg", data, "image/jpeg"))
                for item, (data, _) in enumerate(images)
            ],
            data={"manifest": json.dumps(manifest)},
        )
        if response.status_code != 200:
            self.ledger.note(f"batch {page}: {response.status_code} {response.text[:300]}")
            return
        for result, (data, copy) in zip(response.json()["items"], images, strict=True):
            if result["outcome"] != "created":
                self.ledger.note(f"batch {page} item {result['index']}: {result}")
                continue
            self.ledger.ack("batch", result["receipt"], sha256(data), copy)

    def fingerprints(self, http: httpx.Client, n: int, page: str) -> None:
        chosen = [
            self.prints[(n + item) % len(self.prints)] for item in range(ITEMS_PER_HASH_BATCH)
        ]
        items = [
            {
                "page_url": f"{page}/{item}",
                # Half without the SHA-256: those are keyed by their fingerprints alone.
                "sha256": local.sha256 if item % 2 == 0 else None,
                "fingerprints": [
                    {"algorithm": p.algorithm, "variant": p.variant, "hex": p.hex}
                    for p in local.prints.fingerprints
                ],
            }
            for item, local in enumerate(chosen)
        ]
        response = http.post("/v1/sightings/fingerprints", json={"items": items})
        if response.status_code != 200:
            self.ledger.note(f"hash-only {page}: {response.status_code} {response.text[:300]}")
            return
        for result, sent, local in zip(response.json()["items"], items, chosen, strict=True):
            if result["outcome"] != "created":
                self.ledger.note(f"hash-only {page} item {result['index']}: {result}")
                continue
            copy = local is self.prints[0]
            self.ledger.ack("fingerprints", result["receipt"], sent["sha256"], copy)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_sightings(database_url: str) -> dict[UUID, Sighting]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return {row.id: row for row in session.exec(select(Sighting)).all()}
    finally:
        engine.dispose()


def test_every_acknowledged_sighting_survives_sigkill_under_load(
    server_env: dict[str, str], database_url: str, tmp_path: Path, bootstrap_key: str
) -> None:
    server = Server(server_env, tmp_path / "server.log")
    ledger = Ledger()
    server.start()
    try:
        keys = issue_keys(server.base_url, bootstrap_key)
        asset = httpx.post(
            f"{server.base_url}/v1/assets",
            headers=auth(keys["marketing"]),
            timeout=60,
            **asset_form(),
        )
        assert asset.status_code == 201, asset.text
        asset_id = asset.json()["id"]
        # Hash-only crawlers compute exactly what the server would; the first one is the leak.
        limits = ImageLimits(max_bytes=25 * 1024 * 1024, max_pixels=50_000_000)
        prints = [fingerprint_locally(leaked_copy(), limits)] + [
            fingerprint_locally(jpeg(seed, size=FOUND_SIZE), limits) for seed in range(2, 9)
        ]
        crawlers = [
            threading.Thread(
                target=Crawler(n, server.base_url, keys["crawler"], prints, ledger).run,
                daemon=True,
            )
            for n in range(CRAWLERS)
        ]
        for thread in crawlers:
            thread.start()
        started = time.monotonic()
        while time.monotonic() - started < LOAD_SECONDS or not ledger.ready_to_kill():
            assert time.monotonic() - started < LOAD_DEADLINE_SECONDS, (
                f"load never acknowledged every kind: {ledger.summary()}; {ledger.unexpected[:3]}"
            )
            time.sleep(0.05)

        # Mid-flight: every crawler is still sending when the whole process group dies.
        ledger.killed.set()
        server.kill()
        for thread in crawlers:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in crawlers), ledger.summary()

        server.start()
        stored = stored_sightings(database_url)
        acknowledged = ledger.acknowledged
        lost = [i for i in acknowledged if i not in stored]
        assert not lost, (
            f"{len(lost)} of {len(acknowledged)} acknowledged sightings lost, "
            f"{len(stored)} stored ({ledger.summary()}): {lost[:5]}"
        )
        altered = [i for i, sha in acknowledged.items() if sha and stored[i].sha256 != sha]
        assert not altered, f"{len(altered)} stored with another SHA-256: {altered[:5]}"

        blobs = tmp_path / "data" / "blobs"
        uploaded = {sha for sha in acknowledged.values() if sha is not None}
        bad_blobs = [
            sha
            for sha in uploaded
            if not (path := blobs / sha[:2] / sha[2:4] / sha).is_file()
            or sha256(path.read_bytes()) != sha
        ]
        assert not bad_blobs, (
            f"{len(bad_blobs)} of {len(uploaded)} acknowledged blobs missing or wrong: "
            f"{bad_blobs[:5]}"
        )

        verify = verify_cli(server_env)
        assert verify.returncode == 0, f"{verify.stdout}{verify.stderr}"
        # Every stored sighting is on the chain, not only the acknowledged ones.
        assert f"chain intact: {len(stored)} records" in verify.stdout, verify.stdout

        # Checked after the evidence, so a failure here still shows whether anything was lost.
        assert not ledger.unexpected, (
            f"{len(ledger.unexpected)} unexpected answers under load ({ledger.summary()}): "
            f"{ledger.unexpected[:5]}"
        )

        after = httpx.post(
            f"{server.base_url}/v1/sightings",
            files={"file": ("found.jpg", leaked_copy(), "image/jpeg")},
            data={"page_url": "https://after-restart.example.org/"},
            headers=auth(keys["crawler"]),
            timeout=60,
        )
        assert after.status_code == 201, after.text
        [leak] = leaks_of(server.base_url, keys["security"], asset_id, database_url)
        # The restarted server matched the new copy against its reloaded index.
        assert leak["sightings_count"] >= len(ledger.copies) + 1, (leak, ledger.summary())
        print(
            f"\n{database_url.split(':')[0]}: {ledger.summary()}; {len(stored)} stored, "
            f"0 lost, {len(uploaded)} blobs checked"
        )
    finally:
        ledger.killed.set()
        server.stop()
