"""A leak's evidence bundle: what it holds and never holds, and that both verifiers accept it."""

import hashlib
import io
import json
import zipfile
from pathlib import Path
from uuid import UUID

from sqlalchemy import text

from service.evidence import bundle_check, bundles, chain
from service.runtime import Runtime
from storage.models import Sighting
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.conftest import Clock
from tests.evidence import (
    ASSET,
    download,
    fault_of,
    leak_with_several_sightings,
    read_manifest,
    verify_cli,
)


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def test_bundle_of_a_leak_verifies_with_the_service_and_the_cli(
    api: Api, clock: Clock, tmp_path: Path
) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)

    manifest = read_manifest(bundle)
    assert manifest["format"] == "leaksentinel-evidence"
    assert manifest["format_version"] == 1
    assert manifest["exported_by"] == "security-key"
    assert manifest["leak"]["id"] == leak_id
    assert manifest["leak"]["first_source"]["domain"] == "forum.example.net"
    assert manifest["leak"]["lead_time_seconds"] > 0
    assert manifest["asset"]["name"] == "Front three-quarter"
    assert set(manifest["asset"]) == {"id", "name", "product", "embargo_until"}
    records = manifest["sightings"]
    assert [r["record"]["domain"] for r in records] == [
        "forum.example.net",
        "gossip.example.com",
        "mirror.example.org",
        "hash.example.com",
    ]
    with runtime_of(api).sessions() as session:
        for entry in records:
            row = session.get(Sighting, UUID(entry["record"]["id"]))
            assert row is not None
            assert entry["record"] == json.loads(json.dumps(chain.record_of(row)))
            assert (entry["chain_seq"], entry["chain_digest"]) == (row.chain_seq, row.chain_digest)
            assert entry["match"]["score"] > 0.9
    by_seq = {r["chain_seq"]: r for r in records}
    assert by_seq[1]["previous_digest"] == chain.GENESIS
    assert by_seq[2]["previous_digest"] == by_seq[1]["chain_digest"]
    assert manifest["chain"]["head"] == {"seq": 4, "digest": by_seq[4]["chain_digest"]}

    hash_only = records[3]
    assert hash_only["image"] is None and "hash-only" in hash_only["no_image_reason"]
    gossip, mirror = records[1], records[2]
    assert gossip["image"] == mirror["image"]  # the same bytes on two pages: one file
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = sorted(archive.namelist())
        images = {r["image"]["file"] for r in records if r["image"]}
        assert names == sorted({"manifest.json", "summary.txt", *images})
        for entry in records[:3]:
            data = archive.read(entry["image"]["file"])
            assert hashlib.sha256(data).hexdigest() == entry["image"]["sha256"]
            assert entry["image"]["file"] == f"images/{entry['record']['sha256']}.jpg"
        summary = archive.read("summary.txt").decode()
    assert "forum.example.net" in summary and "https://forum.example.net/t/1" in summary
    assert "Front three-quarter" in summary and "verify-bundle" in summary

    report = bundle_check.verify_bundle(io.BytesIO(bundle))
    assert report.verifies, report.fault
    assert (report.records, report.images, report.head_seq) == (4, 2, 4)

    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    result = verify_cli(path)
    assert result.returncode == 0, result.stderr
    assert f"bundle verifies: leak {leak_id}, 4 records, 2 images" in result.stdout


def test_bundle_never_contains_the_asset(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)
    asset_sha = hashlib.sha256(ASSET).hexdigest()

    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            assert data != ASSET, f"{name} is the confidential asset"
            assert asset_sha.encode() not in data, f"{name} names the asset's SHA-256"
    assert ASSET not in bundle


def test_bundle_says_when_an_image_is_missing_from_the_store(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    first = read_manifest(download(api, leak_id))["sightings"][0]
    runtime_of(api).blobs.path_for(first["record"]["sha256"]).unlink()

    bundle = download(api, leak_id)

    entry = read_manifest(bundle)["sightings"][0]
    assert entry["image"] is None
    assert entry["no_image_reason"] == bundles.NO_IMAGE_MISSING
    assert bundle_check.verify_bundle(io.BytesIO(bundle)).verifies


def test_a_record_removed_from_the_database_shows_in_the_bundle(api: Api) -> None:
    api.asset(ASSET)
    api.sighting(jpeg(1, quality=60), page_url="https://a.example.com/1")
    api.sighting(jpeg(7), page_url="https://unrelated.example.com/2")
    api.sighting(jpeg(1, quality=70), page_url="https://b.example.com/3")
    with runtime_of(api).engine.begin() as conn:
        conn.execute(text("DELETE FROM sightings WHERE chain_seq = 2"))
    [leak] = api.leaks()

    manifest = read_manifest(bundle := download(api, leak["id"]))

    [last] = [entry for entry in manifest["sightings"] if entry["chain_seq"] == 3]
    assert last["previous_digest"] is None
    assert fault_of(bundle) == (
        f"manifest.json: record 3 (sighting {last['record']['id']}): "
        "its previous digest is unknown: record 2 was missing at export"
    )


def test_evidence_export_is_audited_and_unknown_leaks_are_404(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    download(api, leak_id)

    response = api.client.get(
        "/v1/audit", params={"action": "leak.export_evidence"}, headers=auth(api.admin)
    )
    assert response.status_code == 200, response.text
    [event] = response.json()["items"]
    assert (event["actor_name"], event["target_type"], event["target_id"]) == (
        "security-key",
        "leak",
        leak_id,
    )
    assert event["remote_addr"] == "testclient"
    assert event["detail"]["sightings"] == 4 and event["detail"]["images"] == 2

    missing = api.client.get(
        "/v1/leaks/00000000-0000-4000-8000-000000000000/evidence", headers=auth(api.security)
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
