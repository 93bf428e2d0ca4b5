"""Evidence export: the bundle of a leak, `leaksentinel verify-bundle` on it and on tampered
copies, and the leak list as CSV with formula injection neutralised."""

import csv
import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from service.desk import exports
from service.evidence import bundle_check, bundles, chain
from service.runtime import Runtime
from storage.models import Sighting
from testing.images import jpeg
from testing.server import CLI
from tests.api_client import Api, auth
from tests.conftest import Clock
from tests.test_ingest import hash_only_item, post_hashes

ASSET = jpeg(1)


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


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


def rewritten(bundle: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """A copy of the zip with each member passed through `change` (None drops it); a valid
    zip, so only LeakSentinel's own checks can catch what changed."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(bundle)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = change(info.filename, source.read(info))
            if data is not None:
                target.writestr(info.filename, data)
    return out.getvalue()


def verify_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "verify-bundle", str(path)], capture_output=True, text=True, check=False
    )


def fault_of(bundle: bytes) -> str:
    report = bundle_check.verify_bundle(io.BytesIO(bundle))
    assert report.fault is not None, "the tampered bundle verified"
    return str(report.fault)


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


def test_one_changed_byte_of_an_image_fails_naming_that_image(
    api: Api, clock: Clock, tmp_path: Path
) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)
    target = read_manifest(bundle)["sightings"][0]["image"]["file"]

    def flip(name: str, data: bytes) -> bytes:
        if name != target:
            return data
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]

    tampered = rewritten(bundle, flip)

    assert fault_of(tampered) == f"{target}: SHA-256 does not match"
    path = tmp_path / "tampered.zip"
    path.write_bytes(tampered)
    result = verify_cli(path)
    assert result.returncode == 1
    assert f"{target}: SHA-256 does not match" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_byte_changed_inside_the_zip_file_itself_names_the_image(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)
    target = read_manifest(bundle)["sightings"][0]["image"]["file"]
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        info = archive.getinfo(target)
    # Images are stored uncompressed: past the local header, the bytes are the image's.
    data_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 1000
    raw = bytearray(bundle)
    raw[data_at] ^= 0x01

    assert fault_of(bytes(raw)).startswith(f"{target}: ")


def test_an_altered_record_field_fails_naming_the_record(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)
    manifest = read_manifest(bundle)
    altered = manifest["sightings"][1]
    altered["record"]["page_url"] = "https://innocent.example.com/"

    def patch(name: str, data: bytes) -> bytes:
        return json.dumps(manifest).encode() if name == "manifest.json" else data

    fault = fault_of(rewritten(bundle, patch))

    seq, sighting_id = altered["chain_seq"], altered["record"]["id"]
    assert fault == (
        f"manifest.json: record {seq} (sighting {sighting_id}): "
        "was altered: its digest does not match its fields"
    )


def test_a_missing_or_an_unlisted_image_fails_naming_it(api: Api, clock: Clock) -> None:
    leak_id = leak_with_several_sightings(api, clock)
    bundle = download(api, leak_id)
    target = read_manifest(bundle)["sightings"][0]["image"]["file"]

    removed = rewritten(bundle, lambda name, data: None if name == target else data)
    assert fault_of(removed) == f"{target}: is listed in the manifest but missing from the bundle"

    extra_name = f"images/{'ab' * 32}.jpg"
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target_zip:
        for name, data in {**members, extra_name: jpeg(9)}.items():
            target_zip.writestr(name, data)
    assert fault_of(out.getvalue()) == f"{extra_name}: is not listed in the manifest"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a zip file", "is not a zip file"),
        (b"", "is not a zip file"),
        (b"PK\x03\x04" + b"\x00" * 40, "is not a zip file"),
    ],
    ids=["text", "empty", "cut-off-zip"],
)
def test_verify_bundle_on_a_file_that_is_no_bundle_fails_cleanly(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(content)

    result = verify_cli(path)

    assert result.returncode == 1
    assert f"{path}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_bundle_on_a_zip_without_a_manifest_or_with_a_bad_one(tmp_path: Path) -> None:
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("summary.txt", "hello")
    assert fault_of(empty.getvalue()) == "manifest.json: is missing"

    for manifest, problem in [
        (b"{not json", "is not valid JSON"),
        (b'{"format": "something-else"}', "is not a LeakSentinel evidence manifest"),
        (b'{"format": "leaksentinel-evidence", "format_version": 1}', "is malformed at"),
    ]:
        bad = io.BytesIO()
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("manifest.json", manifest)
        assert fault_of(bad.getvalue()).startswith(f"manifest.json: {problem}")


def test_verify_bundle_on_a_missing_file_says_so(tmp_path: Path) -> None:
    result = verify_cli(tmp_path / "nowhere.zip")
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


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


def csv_rows(api: Api, key: str | None = None, **params: str) -> list[dict[str, str]]:
    response = api.client.get(
        "/v1/leaks", params={"format": "csv", **params}, headers=auth(key or api.security)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="leaks.csv"'
    reader = csv.reader(io.StringIO(response.text))
    header = next(reader)
    assert tuple(header) == exports.CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def three_leaks(api: Api, clock: Clock) -> None:
    for seed, product in ((1, "SU7"), (2, "SU7"), (3, "Phone 15")):
        api.asset(jpeg(seed), product=product, name=f"asset {seed}")
    api.sighting(jpeg(1), page_url="https://a.example.com/1", account='=HYPERLINK("x")')
    clock.advance(timedelta(minutes=1))
    api.sighting(jpeg(2), page_url="https://b.example.com/2", account="-2+3")
    clock.advance(timedelta(minutes=1))
    api.sighting(jpeg(3), page_url="https://c.example.com/3", account="@everyone")


def test_csv_has_a_header_and_one_row_per_leak_with_formulas_neutralised(
    api: Api, clock: Clock
) -> None:
    three_leaks(api, clock)

    rows = csv_rows(api)

    assert [r["first_domain"] for r in rows] == ["c.example.com", "b.example.com", "a.example.com"]
    assert [r["first_account"] for r in rows] == ["'@everyone", "'-2+3", '\'=HYPERLINK("x")']
    json_ids = [leak["id"] for leak in api.leaks()]
    assert [r["id"] for r in rows] == json_ids
    assert rows[0]["sightings_count"] == "1" and rows[0]["status"] == "open"


# Formula starts that pass a check of the first character alone.
DISGUISED_FORMULAS = [
    '\uff1dHYPERLINK("https://evil.example/")',  # full-width =
    "\uff0b1+1",  # full-width +
    "\uff0d1+1",  # full-width -
    "\uff20SUM(A1)",  # full-width @
    "\u200b=cmd|' /C calc'!A0",  # a zero-width space before =
    "\ufeff\u2060+1+1",  # a byte-order mark and a word joiner before +
    "|cmd /C calc",  # DDE
    '"=1+1"',  # a quoted start
    "\u200e\uff5cx",  # a left-to-right mark before a full-width |
]


def test_csv_export_neutralises_disguised_formula_prefixes(api: Api, clock: Clock) -> None:
    # Each case both as a leak's asset name and as its first source's account.
    pairs = list(zip(DISGUISED_FORMULAS[::2], [*DISGUISED_FORMULAS[1::2], "@x"], strict=True))
    for seed, (name, account) in enumerate(pairs, start=1):
        api.asset(jpeg(seed), name=name)
        api.sighting(jpeg(seed), page_url=f"https://{seed}.example.com/p", account=account)
        clock.advance(timedelta(minutes=1))

    rows = csv_rows(api)

    assert len(rows) == len(pairs)
    cells = [cell for r in rows for cell in (r["asset_name"], r["first_account"])]
    assert sorted(cells) == sorted("'" + case for case in [*DISGUISED_FORMULAS, "@x"])


def test_csv_neutralises_formulas_behind_blanks() -> None:
    # Sent values are stripped of blanks before they are stored; a cell is checked as if not.
    for cell in (" =1+1", "\u3000+1", "\n@x", "\u00a0-1"):
        assert exports.neutralise(cell) == "'" + cell


def test_csv_leaves_ordinary_cells_alone() -> None:
    for cell in ("Prototype a=b", "2027-01-01T00:00:00+00:00", "https://x.example/a|b", "SU7"):
        assert exports.neutralise(cell) == cell


def test_csv_takes_the_list_filters_and_every_page(
    api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_leaks(api, clock)
    monkeypatch.setattr(exports, "MAX_LIMIT", 1)  # one leak per page: three pages

    assert len(csv_rows(api)) == 3
    assert [r["first_domain"] for r in csv_rows(api, sort="first_seen")] == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]
    assert {r["product"] for r in csv_rows(api, product="SU7")} == {"SU7"}
    assert len(csv_rows(api, product="SU7")) == 2
    assert [r["first_domain"] for r in csv_rows(api, domain="b.example.com")] == ["b.example.com"]


def test_csv_over_the_row_cap_is_refused(
    api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_leaks(api, clock)
    monkeypatch.setattr(exports, "MAX_CSV_ROWS", 2)

    response = api.client.get("/v1/leaks", params={"format": "csv"}, headers=auth(api.security))

    assert response.status_code == 422
    assert response.json()["type"].endswith("export-too-large")
    assert len(csv_rows(api, product="SU7")) == 2


def test_csv_export_is_audited_and_for_security_and_admin_only(api: Api, clock: Clock) -> None:
    three_leaks(api, clock)
    assert len(csv_rows(api, key=api.admin, status="open")) == 3

    events = api.client.get(
        "/v1/audit", params={"action": "leak.export_csv"}, headers=auth(api.admin)
    ).json()["items"]
    assert [(e["actor_name"], e["detail"]["rows"], e["detail"]["status"]) for e in events] == [
        ("bootstrap-admin", 3, "open")
    ]
    for key in (api.crawler, api.marketing):
        refused = api.client.get("/v1/leaks", params={"format": "csv"}, headers=auth(key))
        assert refused.status_code == 403
