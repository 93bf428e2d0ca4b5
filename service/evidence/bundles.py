"""Evidence bundles: a leak's sightings, found images and chain proof in one zip, with its
manifest's format (service/evidence/bundle_check.py checks such a zip offline)."""

import hashlib
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from service.access import audit
from service.access.actors import Actor
from service.desk import leaks
from service.desk.exports import Download, finish, spool
from service.desk.reports import LeakSummary
from service.evidence import chain
from service.runtime import Runtime
from storage.blobs import BlobStore
from storage.models import Sighting, SightingMatch
from storage.repositories import chain as chain_repo
from storage.repositories import leaks as leaks_repo

FORMAT = "leaksentinel-evidence"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.txt"
IMAGES = "images/"
ZIP_MEDIA_TYPE = "application/zip"
# A manifest is text about sightings; far past this it is not one we wrote, and reading it whole
# would only exhaust memory.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
HASH_CHUNK_BYTES = 1024 * 1024

ZipTime = tuple[int, int, int, int, int, int]

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}

NO_IMAGE_HASH_ONLY = (
    "hash-only sighting: the crawler sent the image's fingerprints (in the record), not the image"
)
NO_IMAGE_MISSING = "the image is missing from the evidence store"
NO_IMAGE_DAMAGED = "the stored image no longer hashes to its SHA-256; left out"
DIGEST_RULE = (
    'sha256(previous_digest + "\\n" + record as JSON with sorted keys, no spaces, UTF-8), '
    "hex; previous_digest of chain position 1 is the genesis digest"
)


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BundleAsset(_Part):
    """What the bundle says about the confidential asset: its name and embargo, never its
    pixels or fingerprints."""

    id: UUID
    name: str
    product: str
    embargo_until: datetime


class BundleSource(_Part):
    page_url: str
    image_url: str | None
    domain: str
    account: str | None


class BundleLeak(_Part):
    id: UUID
    status: str
    first_seen_at: datetime
    first_source: BundleSource
    last_seen_at: datetime
    lead_time_seconds: float
    sightings_count: int
    domains: list[str]
    best_score: float


class BundleImage(_Part):
    file: str
    sha256: str
    media_type: str | None
    byte_size: int


class BundleMatch(_Part):
    score: float
    variant: str
    region: str
    distances: dict[str, int]


class BundleSighting(_Part):
    """One sighting: its chain record exactly as digested, the proof linking it to the chain,
    its image file (or why there is none), and the match, which the chain does not cover."""

    chain_seq: int | None
    previous_digest: str | None
    chain_digest: str | None
    record: dict[str, Any]
    image: BundleImage | None
    no_image_reason: str | None
    match: BundleMatch


class ChainPosition(_Part):
    seq: int
    digest: str


class BundleChain(_Part):
    digest_rule: str
    genesis: str
    head: ChainPosition


class Manifest(_Part):
    format: Literal["leaksentinel-evidence"]
    format_version: int
    generated_at: datetime
    exported_by: str
    leak: BundleLeak
    asset: BundleAsset
    chain: BundleChain
    sightings: list[BundleSighting]


def export_bundle(runtime: Runtime, session: Session, actor: Actor, leak_id: UUID) -> Download:
    """A leak's evidence as a zip: manifest.json, summary.txt and images/<sha256>.<ext> as
    received. The export is recorded in the audit log."""
    detail = leaks.get_leak_summary(session, leak_id)
    # Every sighting, unpaged: the bundle is the whole evidence, whatever the detail pages.
    rows = leaks_repo.sightings_of(session, leak_id)
    previous = chain_repo.digests_at(
        session, [s.chain_seq - 1 for s, _ in rows if s.chain_seq is not None and s.chain_seq > 1]
    )
    # Read after the records, so every record exported lies at or before the head.
    head = chain_repo.head(session)
    generated_at = runtime.clock()
    stamp = _zip_time(generated_at)

    file = spool()
    try:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            entries = _write_images(bundle, stamp, runtime.blobs, rows, previous)
            manifest = Manifest(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                generated_at=generated_at,
                exported_by=actor.name,
                leak=_leak_part(detail),
                asset=BundleAsset(
                    id=detail.asset.id,
                    name=detail.asset.name,
                    product=detail.asset.product,
                    embargo_until=detail.asset.embargo_until,
                ),
                chain=BundleChain(
                    digest_rule=DIGEST_RULE,
                    genesis=chain.GENESIS,
                    head=ChainPosition(seq=head.seq, digest=head.digest),
                ),
                sightings=entries,
            )
            _write_text(bundle, stamp, MANIFEST, manifest.model_dump_json(indent=2) + "\n")
            _write_text(bundle, stamp, SUMMARY, summary_text(manifest))
    except BaseException:
        file.close()
        raise
    images = {e.image.file for e in entries if e.image is not None}
    download = finish(file, f"leak-{leak_id}-evidence.zip", ZIP_MEDIA_TYPE)
    audit.record(
        session,
        actor,
        "leak.export_evidence",
        "leak",
        leak_id,
        at=generated_at,
        sightings=len(entries),
        images=len(images),
        bytes=download.size,
        chain_head_seq=head.seq,
    )
    return download


def _zip_time(moment: datetime) -> ZipTime:
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _write_text(bundle: zipfile.ZipFile, stamp: ZipTime, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, text.encode())


def _leak_part(detail: LeakSummary) -> BundleLeak:
    first = detail.first_source
    return BundleLeak(
        id=detail.id,
        status=detail.status,
        first_seen_at=detail.first_seen_at,
        first_source=BundleSource(
            page_url=first.page_url,
            image_url=first.image_url,
            domain=first.domain,
            account=first.account,
        ),
        last_seen_at=detail.last_seen_at,
        lead_time_seconds=detail.lead_time_seconds,
        sightings_count=detail.sightings_count,
        domains=detail.domains,
        best_score=detail.best_score,
    )


def _write_images(
    bundle: zipfile.ZipFile,
    stamp: ZipTime,
    blobs: BlobStore,
    rows: Iterable[tuple[Sighting, SightingMatch]],
    previous: dict[int, str],
) -> list[BundleSighting]:
    """Writes each found image once (the same bytes seen on two pages are one file) and
    returns the manifest entry of every sighting, in publication order."""
    written: dict[str, BundleImage | str] = {}
    entries = []
    for sighting, match in rows:
        image: BundleImage | None = None
        reason: str | None = None
        if sighting.submitted_as != "upload" or sighting.sha256 is None:
            reason = NO_IMAGE_HASH_ONLY
        else:
            if sighting.sha256 not in written:
                written[sighting.sha256] = _write_image(bundle, stamp, blobs, sighting)
            found = written[sighting.sha256]
            image, reason = (found, None) if isinstance(found, BundleImage) else (None, found)
        seq = sighting.chain_seq
        entries.append(
            BundleSighting(
                chain_seq=seq,
                previous_digest=_previous_digest(seq, previous),
                chain_digest=sighting.chain_digest,
                record=chain.record_of(sighting),
                image=image,
                no_image_reason=reason,
                match=BundleMatch(
                    score=match.score,
                    variant=match.variant,
                    region=match.region,
                    distances=match.distances,
                ),
            )
        )
    return entries


def _previous_digest(seq: int | None, previous: dict[int, str]) -> str | None:
    """The digest the record follows; None when the record before it is gone from the
    database, which the bundle then shows rather than papers over."""
    if seq is None:
        return None
    return chain.GENESIS if seq == 1 else previous.get(seq - 1)


def _write_image(
    bundle: zipfile.ZipFile, stamp: ZipTime, blobs: BlobStore, sighting: Sighting
) -> BundleImage | str:
    """The image's manifest entry once written, or why it could not be."""
    sha256 = sighting.sha256
    assert sha256 is not None
    try:
        data = blobs.get(sha256)
    except FileNotFoundError:
        return NO_IMAGE_MISSING
    # A damaged copy would make the whole bundle fail its check; leaving it out, and saying so,
    # keeps the rest of the evidence usable.
    if hashlib.sha256(data).hexdigest() != sha256:
        return NO_IMAGE_DAMAGED
    name = f"{IMAGES}{sha256}.{EXTENSIONS.get(sighting.media_type or '', 'bin')}"
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_STORED  # already compressed; stored bytes are the bytes
    bundle.writestr(info, data)
    return BundleImage(
        file=name, sha256=sha256, media_type=sighting.media_type, byte_size=len(data)
    )


def _duration(seconds: float) -> str:
    span = timedelta(seconds=abs(round(seconds)))
    days, rest = span.days, span.seconds
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{secs} s"] if secs or not parts else []
    return " ".join(parts)


def _published(record: dict[str, Any]) -> str:
    claimed = record.get("found_at")
    return f"{claimed} (claimed)" if claimed else f"{record.get('received_at')} (received)"


def summary_text(manifest: Manifest) -> str:
    """The manifest for a human reader: who published first, when and where, every sighting,
    and how to check the bundle."""
    leak, asset, first = manifest.leak, manifest.asset, manifest.leak.first_source
    lead = leak.lead_time_seconds
    when = "before" if lead >= 0 else "after"
    lines = [
        "LeakSentinel evidence bundle",
        "============================",
        "",
        f"Leak             {leak.id}",
        f"Status           {leak.status}",
        f"Asset            {asset.name} (product {asset.product}; asset {asset.id})",
        f"Embargo until    {asset.embargo_until.isoformat()}",
        f"Exported         {manifest.generated_at.isoformat()} by {manifest.exported_by}",
        "",
        "Who published first",
        "-------------------",
        f"{first.domain}{f' (account {first.account})' if first.account else ''}, "
        f"at {leak.first_seen_at.isoformat()},",
        f"{_duration(lead)} {when} the embargo ended.",
        f"  page:  {first.page_url}",
        f"  image: {first.image_url or '-'}",
        "",
        f"Seen {leak.sightings_count} times on {len(leak.domains)} domain(s): "
        f"{', '.join(leak.domains)}; best match score {leak.best_score:.4f}.",
        "",
        f"Sightings, in publication order ({len(manifest.sightings)})",
        "-----------------------------------",
    ]
    header = f"{'#':>3}  {'chain':>7}  {'published':<46}  {'domain':<28}  {'score':>6}"
    lines += [header, "-" * len(header)]
    for number, entry in enumerate(manifest.sightings, 1):
        record = entry.record
        chain_seq = "-" if entry.chain_seq is None else str(entry.chain_seq)
        lines.append(
            f"{number:>3}  {chain_seq:>7}  {_published(record):<46}  "
            f"{record.get('domain') or '':<28}  {entry.match.score:>6.4f}"
        )
        lines.append(f"{'':14}received {record.get('received_at')}")
        if record.get("account"):
            lines.append(f"{'':14}account  {record.get('account')}")
        lines.append(f"{'':14}page     {record.get('page_url')}")
        if record.get("image_url"):
            lines.append(f"{'':14}image    {record.get('image_url')}")
        if entry.image is not None:
            lines.append(f"{'':14}file     {entry.image.file}")
        else:
            lines.append(f"{'':14}no file: {entry.no_image_reason}")
    head = manifest.chain.head
    lines += [
        "",
        "How to verify",
        "-------------",
        "1. Run `leaksentinel verify-bundle <this zip>`. It needs no database and no network. It",
        "   recomputes every record's chain digest in manifest.json from the previous digest and",
        "   the record, hashes every file under images/ against its name and its record's",
        "   sha256, and checks that no listed image is missing and no other file was added. It",
        "   exits 0 when all of that holds, and otherwise names the first entry that fails.",
        "2. By hand: `sha256sum images/*` prints each file's name again. A record's chain_digest",
        "   is the SHA-256 (hex) of its previous_digest, a newline, and the record as JSON with",
        "   sorted keys, no spaces, UTF-8; the first record of the chain follows the genesis",
        "   digest (64 zeros).",
        "3. The digests tie these records to LeakSentinel's sighting chain, whose head at export",
        f"   was position {head.seq}, digest {head.digest}.",
        "   Comparing the digests (or that head) with a copy kept outside LeakSentinel shows that",
        "   the records were not changed since. Match scores, variants and regions are the",
        "   service's findings and are not covered by the chain.",
        "",
    ]
    return "\n".join(lines)
