"""`verify-bundle` on tampered bundles and on files that are no bundle: each fault is named."""

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from testing.images import jpeg
from tests.api_client import Api
from tests.conftest import Clock
from tests.evidence import (
    download,
    fault_of,
    leak_with_several_sightings,
    read_manifest,
    verify_cli,
)


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
