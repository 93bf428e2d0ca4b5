"""Turning what a crawler sent, fingerprinted, into a checked sighting record and what it is to be
searched with, ready to store: every validation, no database, no decoding (service/decoding.py)
and no matching (service/ingest/match_queue.py, after the receipt)."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from service import values
from service.access.actors import Actor
from service.decoding import Fingerprinted, fingerprint_found_image
from service.detection import features
from service.detection.decode import ImageData, ImageLimits
from service.detection.features import LocalFeatures
from service.detection.hashes import Fingerprint, SightingPrints
from service.errors import DomainError, InvalidFingerprint, InvalidInput
from service.urls import checked_url, domain_of, normalised
from storage.ids import uuid7

# Crawler clocks drift; a claimed publication time further ahead than this is refused.
CLOCK_SKEW = timedelta(minutes=5)
# More regions than fingerprint_sighting ever proposes, with room for a client's own.
MAX_PRINTS_PER_ITEM = 256
HEX_DIGITS = frozenset("0123456789abcdef")
MAX_LOCAL_FEATURES_TEXT = features.MAX_TEXT_LENGTH


@dataclass(frozen=True)
class SightingSource:
    page_url: str
    image_url: str | None = None
    account: str | None = None
    found_at: datetime | None = None


@dataclass(frozen=True)
class HashOnlySubmission:
    source: SightingSource
    fingerprints: list[tuple[str, str, str]]  # (algorithm, variant, hex), as sent
    sha256: str | None = None
    local_features: str | None = None  # their text form (`orb1:...`), as sent


@dataclass(slots=True)
class NewSighting:
    """A sighting's column values before it is stored. A plain value, not an ORM object: a batch
    of a hundred is built and inserted without a hundred trips through the unit of work."""

    page_url: str
    image_url: str | None
    page_key: str
    image_key: str | None
    content_key: str
    domain: str
    account: str | None
    found_at: datetime | None
    received_at: datetime
    crawler_key_id: UUID | None
    id: UUID = field(default_factory=uuid7)
    submitted_as: str = "upload"
    sha256: str | None = None
    fingerprints: list[list[str]] | None = None
    media_type: str | None = None
    byte_size: int | None = None
    width: int | None = None
    height: int | None = None
    low_information: str | None = None
    chain_seq: int | None = None
    chain_digest: str | None = None

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS}


_COLUMNS = tuple(f.name for f in fields(NewSighting))


@dataclass
class Prepared:
    """A sighting ready to store: every check passed, fingerprinted, to be matched once stored."""

    sighting: NewSighting
    prints: SightingPrints
    data: ImageData | None = None  # the bytes to keep as evidence, for an upload


def new_sighting(
    actor: Actor, source: SightingSource, received_at: datetime, content_key: str
) -> NewSighting:
    page_url = checked_url(source.page_url, "page_url")
    image_url = checked_url(source.image_url, "image_url") if source.image_url else None
    found_at = values.instant(source.found_at, "found_at") if source.found_at else None
    if found_at is not None and found_at > received_at + CLOCK_SKEW:
        raise InvalidInput("found_at is in the future")
    account = values.text(source.account, "account", max_length=300) if source.account else None
    return NewSighting(
        page_url=page_url,
        image_url=image_url,
        page_key=normalised(page_url),
        image_key=normalised(image_url) if image_url else None,
        content_key=content_key,
        domain=domain_of(page_url),
        account=account or None,
        found_at=found_at,
        received_at=received_at,
        crawler_key_id=actor.key_id,
    )


# An upload decoded and fingerprinted in a decode worker: where it was found, what the worker
# found in it, and its bytes.
Decoded = tuple[SightingSource, Fingerprinted, ImageData]


def prepare_upload(
    actor: Actor,
    source: SightingSource,
    image: Fingerprinted,
    data: ImageData,
    received_at: datetime,
) -> Prepared:
    """One upload, as `prepare_uploads` prepares each; a refusal is raised."""
    [prepared] = prepare_uploads(actor, [(source, image, data)], received_at)
    if isinstance(prepared, DomainError):
        raise prepared
    return prepared


def prepare_uploads(
    actor: Actor,
    uploads: Sequence[Decoded | DomainError],
    received_at: datetime,
) -> list[Prepared | DomainError]:
    """The parent's half of uploads: their bytes were decoded and fingerprinted in the decode
    workers (service/decoding.py). An item refused earlier, or here, is its own outcome."""
    prepared: list[Prepared | DomainError] = []
    for upload in uploads:
        if isinstance(upload, DomainError):
            prepared.append(upload)
            continue
        source, image, data = upload
        try:
            sighting = new_sighting(actor, source, received_at, image.sha256)
        except DomainError as exc:
            prepared.append(exc)
            continue
        sighting.sha256 = image.sha256
        sighting.media_type = image.media_type
        sighting.byte_size = image.byte_size
        sighting.width, sighting.height = image.width, image.height
        sighting.low_information = image.low_information
        prepared.append(Prepared(sighting, image.sighting_prints, data))
    return prepared


def prepare_hashes(
    actor: Actor, items: Sequence[HashOnlySubmission], received_at: datetime
) -> list[Prepared | DomainError]:
    """Each item checked on its own, a bad one being its own outcome."""
    prepared: list[Prepared | DomainError] = []
    for item in items:
        try:
            prepared.append(Prepared(*_checked_hashes(actor, item, received_at)))
        except DomainError as exc:
            prepared.append(exc)
    return prepared


def _checked_hashes(
    actor: Actor, item: HashOnlySubmission, received_at: datetime
) -> tuple[NewSighting, SightingPrints]:
    if item.sha256 is not None and (len(item.sha256) != 64 or not set(item.sha256) <= HEX_DIGITS):
        raise InvalidInput("sha256 must be 64 lowercase hexadecimal digits")
    if len(item.fingerprints) > MAX_PRINTS_PER_ITEM:
        raise InvalidFingerprint(f"an item may carry at most {MAX_PRINTS_PER_ITEM} fingerprints")
    prints = tuple(Fingerprint.from_hex(a, v, h) for a, v, h in item.fingerprints)
    if len({(p.algorithm, p.variant) for p in prints}) != len(prints):
        raise InvalidFingerprint("an algorithm and variant pair is listed twice")
    local = LocalFeatures.from_text(item.local_features) if item.local_features else None
    if local is not None and len(local) < features.MIN_KEYPOINTS:
        local = None
    sent = [[p.algorithm, p.variant, p.hex] for p in prints]
    # The features are too long to keep with every sighting; they count towards its identity.
    identity = repr(sorted(sent))
    if item.local_features:
        identity = repr((sorted(sent), item.local_features))
    content_key = item.sha256 or hashlib.sha256(identity.encode()).hexdigest()
    sighting = new_sighting(actor, item.source, received_at, content_key)
    sighting.sha256 = item.sha256
    sighting.submitted_as = "fingerprints"
    sighting.fingerprints = sent
    searchable = {p.variant for p in prints if p.algorithm == "pdq"} & {
        p.variant for p in prints if p.algorithm == "phash"
    }
    if not searchable and local is None:
        # Hashes match only with every algorithm on one region; without that, and without
        # local features, nothing can match.
        sighting.low_information = "unsearchable"
    return sighting, SightingPrints(prints, sighting.low_information, local)


@dataclass(frozen=True)
class LocalPrints:
    """What a crawler computes on its side and sends to `POST /v1/sightings/fingerprints`."""

    sha256: str
    prints: SightingPrints


def fingerprint_locally(data: bytes, limits: ImageLimits) -> LocalPrints:
    """Exactly what the server would compute from these bytes, without sending them; in this
    process, as the bytes are the caller's own."""
    image = fingerprint_found_image(data, limits)
    return LocalPrints(image.sha256, image.sighting_prints)
