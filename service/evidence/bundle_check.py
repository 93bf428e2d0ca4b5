"""Checking an evidence bundle offline, with nothing but its own contents: the chain digests of
its records and the SHA-256 of its images (`leaksentinel verify-bundle`)."""

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from service.evidence import chain
from service.evidence.bundles import (
    FORMAT,
    FORMAT_VERSION,
    HASH_CHUNK_BYTES,
    IMAGES,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SUMMARY,
    BundleImage,
    BundleSighting,
    ChainPosition,
    Manifest,
)


@dataclass(frozen=True)
class BundleFault:
    entry: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.problem}"


@dataclass(frozen=True)
class BundleReport:
    leak_id: str | None
    records: int
    images: int
    head_seq: int | None
    fault: BundleFault | None

    @property
    def verifies(self) -> bool:
        return self.fault is None


class _Bad(Exception):
    def __init__(self, entry: str, problem: str) -> None:
        super().__init__(f"{entry}: {problem}")
        self.fault = BundleFault(entry, problem)


# What reading a damaged zip member can raise: a bad CRC, a broken deflate stream, a cut-off
# file, a compression method or encryption zipfile does not do.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def verify_bundle(source: str | Path | IO[bytes]) -> BundleReport:
    """Checks an evidence bundle with nothing but its own contents, and names the first entry
    that fails: a record whose digest does not follow from its previous digest and its fields,
    an image whose bytes do not hash to its SHA-256, an image listed but missing, a file present
    but not listed, or a file that is not a bundle at all."""
    label = str(source) if isinstance(source, str | Path) else "the bundle"
    try:
        with zipfile.ZipFile(source) as bundle:
            return _verify(bundle)
    except zipfile.BadZipFile:
        return BundleReport(
            None, 0, 0, None, BundleFault(label, "is not a zip file (or is cut off)")
        )
    except _Bad as bad:
        return BundleReport(None, 0, 0, None, bad.fault)


def _verify(bundle: zipfile.ZipFile) -> BundleReport:
    names = [info.filename for info in bundle.infolist()]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _Bad(name, "appears twice in the zip")
        seen.add(name)
    manifest = _read_manifest(bundle)

    head = manifest.chain.head
    if manifest.chain.genesis != chain.GENESIS:
        raise _Bad(MANIFEST, "the genesis digest is not LeakSentinel's")
    by_seq = {e.chain_seq: e for e in manifest.sightings if e.chain_seq is not None}
    listed: set[str] = set()
    for entry in manifest.sightings:
        _check_record(entry, by_seq, head)
        if entry.image is None:
            continue
        image = entry.image
        if image.file not in listed:
            _check_image(bundle, image, seen)
            listed.add(image.file)
        if image.sha256 != entry.record.get("sha256"):
            raise _Bad(_record_label(entry), "its image's SHA-256 is not the one in its record")
    for name in names:
        if name not in listed and name not in (MANIFEST, SUMMARY):
            raise _Bad(name, "is not listed in the manifest")
    return BundleReport(str(manifest.leak.id), len(manifest.sightings), len(listed), head.seq, None)


def _read_manifest(bundle: zipfile.ZipFile) -> Manifest:
    try:
        info = bundle.getinfo(MANIFEST)
    except KeyError:
        raise _Bad(MANIFEST, "is missing") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise _Bad(MANIFEST, f"is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        with bundle.open(info) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except _ZIP_READ_ERRORS as exc:
        raise _Bad(MANIFEST, f"cannot be read from the zip ({exc})") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _Bad(MANIFEST, f"is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Bad(MANIFEST, f"is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Bad(MANIFEST, "is not a LeakSentinel evidence manifest")
    if document.get("format_version") != FORMAT_VERSION:
        version = document.get("format_version")
        raise _Bad(MANIFEST, f"has format version {version!r}; this tool reads {FORMAT_VERSION}")
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _Bad(MANIFEST, f"is malformed at {where}: {first['msg']}") from exc


def _record_label(entry: BundleSighting) -> str:
    seq = "without a chain position" if entry.chain_seq is None else str(entry.chain_seq)
    return f"{MANIFEST}: record {seq} (sighting {entry.record.get('id')})"


def _check_record(
    entry: BundleSighting, by_seq: dict[int, BundleSighting], head: ChainPosition
) -> None:
    label = _record_label(entry)
    seq, previous, stated = entry.chain_seq, entry.previous_digest, entry.chain_digest
    if seq is None or stated is None:
        raise _Bad(label, "has no place in the chain")
    if previous is None:
        raise _Bad(label, f"its previous digest is unknown: record {seq - 1} was missing at export")
    if entry.record.get("seq") != seq:
        raise _Bad(label, "its record names another chain position")
    if seq < 1 or seq > head.seq:
        raise _Bad(label, f"lies outside the chain, whose head is at {head.seq}")
    if seq == 1 and previous != chain.GENESIS:
        raise _Bad(label, "is first in the chain but does not follow the genesis digest")
    before = by_seq.get(seq - 1)
    if before is not None and before.chain_digest != previous:
        raise _Bad(label, f"its previous digest is not the digest of record {seq - 1}")
    if chain.digest(previous, entry.record) != stated:
        raise _Bad(label, "was altered: its digest does not match its fields")
    if seq == head.seq and stated != head.digest:
        raise _Bad(label, "is at the chain head but its digest is not the head's")


def _check_image(bundle: zipfile.ZipFile, image: BundleImage, present: set[str]) -> None:
    name = image.file
    stem = name.removeprefix(IMAGES).split(".", 1)[0]
    if not name.startswith(IMAGES) or "/" in name.removeprefix(IMAGES) or stem != image.sha256:
        raise _Bad(name, f"is not named {IMAGES}<its sha256>.<ext>")
    if name not in present:
        raise _Bad(name, "is listed in the manifest but missing from the bundle")
    sha = hashlib.sha256()
    try:
        with bundle.open(name) as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                sha.update(chunk)
    except _ZIP_READ_ERRORS as exc:
        # zipfile checks the member's CRC-32 before handing over its last bytes, so bytes
        # changed inside the zip (without rewriting it) surface here rather than as a hash.
        raise _Bad(name, f"is damaged: its bytes cannot be read back as stored ({exc})") from exc
    if sha.hexdigest() != image.sha256:
        raise _Bad(name, "SHA-256 does not match")
