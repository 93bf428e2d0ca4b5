"""What the evidence tests share: a leak seen several ways, its bundle, and the verifiers."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from service.evidence import bundle_check
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.command import Ran, leaksentinel
from tests.conftest import Clock
from tests.ingest_calls import hash_only_item, post_hashes

ASSET = jpeg(1)


def leak_with_several_sightings(api: Api, clock: Clock) -> str:
    """One leak, seen as two uploads (the same bytes on a second page too) and one hash-only
    sighting; the earliest publisher is the forum, by its claimed time."""
    api.asset(ASSET, name="Front three-quarter", product="SU7")
    copy = jpeg(1, quality=60)
    api.sighting(copy, page_url="https://gossip.example.com/scoop", account="@carleaks")
    clock.advance(timedelta(minutes=3))
    api.sighting(
        jpeg(1, size=(480, 360), quality=70),
        page_url="https://forum.example.net/t/1",
        found_at=clock() - timedelta(hours=1),
    )
    clock.advance(timedelta(minutes=3))
    api.sighting(copy, page_url="https://mirror.example.org/copy")
    clock.advance(timedelta(minutes=3))
    hashed = post_hashes(api, [hash_only_item(jpeg(1, quality=50), "https://hash.example.com/x")])
    assert hashed.status_code == 200, hashed.text
    [leak] = api.leaks()
    assert leak["sightings_count"] == 4
    return str(leak["id"])


def download(api: Api, leak_id: str, key: str | None = None) -> bytes:
    response = api.client.get(f"/v1/leaks/{leak_id}/evidence", headers=auth(key or api.security))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="leak-{leak_id}-evidence.zip"'
    return response.content


def read_manifest(bundle: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        manifest: dict[str, Any] = json.loads(archive.read("manifest.json"))
        return manifest


def verify_cli(path: Path) -> Ran:
    return leaksentinel("verify-bundle", str(path))


def fault_of(bundle: bytes) -> str:
    report = bundle_check.verify_bundle(io.BytesIO(bundle))
    assert report.fault is not None, "the tampered bundle verified"
    return str(report.fault)
