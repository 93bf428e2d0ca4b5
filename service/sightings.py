"""Found images from crawlers: validated, fingerprinted, kept as evidence, and matched."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from service import fingerprints, leaks, values
from service.actors import Actor
from service.errors import InvalidInput
from service.imaging import decode
from service.matching import find_matches
from service.runtime import Runtime, ensure_current_index
from service.urls import checked_url, domain_of
from storage.models import Sighting
from storage.repositories import sightings as sightings_repo

# Crawler clocks drift; a claimed publication time further ahead than this is refused.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class SightingSource:
    page_url: str
    image_url: str | None = None
    account: str | None = None
    found_at: datetime | None = None


def _new_sighting(runtime: Runtime, actor: Actor, source: SightingSource) -> Sighting:
    page_url = checked_url(source.page_url, "page_url")
    image_url = checked_url(source.image_url, "image_url") if source.image_url else None
    received_at = runtime.clock()
    found_at = values.instant(source.found_at, "found_at") if source.found_at else None
    if found_at is not None and found_at > received_at + CLOCK_SKEW:
        raise InvalidInput("found_at is in the future")
    account = values.text(source.account, "account", max_length=300) if source.account else None
    return Sighting(
        page_url=page_url,
        image_url=image_url,
        domain=domain_of(page_url),
        account=account or None,
        found_at=found_at,
        received_at=received_at,
        crawler_key_id=actor.key_id,
    )


def submit_image(
    runtime: Runtime, session: Session, actor: Actor, source: SightingSource, data: bytes
) -> Sighting:
    """Stores one found image and decides, per matching asset, leak or post-embargo sighting.
    The returned record is the crawler's receipt; what it matched is not the crawler's to know."""
    sighting = _new_sighting(runtime, actor, source)
    image = decode(data, runtime.settings.image_limits)
    sighting.sha256 = image.sha256
    sighting.media_type = image.media_type
    sighting.byte_size = image.byte_size
    sighting.width, sighting.height = image.width, image.height
    # CPU work first: on SQLite the INSERT below takes the write lock until the commit.
    prints = fingerprints.fingerprint_sighting(image.pixels, image.width, image.height)
    sighting.low_information = prints.low_information
    # The bytes are on disk before the row that names them can commit.
    runtime.blobs.put(image.sha256, data)
    sightings_repo.add(session, sighting)
    ensure_current_index(runtime, session)
    for match in find_matches(runtime.index, prints, runtime.policy):
        leaks.record_match(session, sighting, match)
    return sighting
