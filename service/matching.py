"""Turning index hits into one verdict per asset: which assets a found image shows, how surely."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from service.fingerprints import SightingPrints
from service.index import Hit, MatchIndex
from service.settings import Settings


@dataclass(frozen=True)
class AssetMatch:
    asset_id: UUID
    score: float  # similarity of the closest fingerprint pair, 1.0 for identical bits
    algorithm: str
    variant: str
    distance: int


def _score(hit: Hit) -> float:
    return round(1.0 - hit.distance / hit.size, 4)


@dataclass(frozen=True)
class MatchPolicy:
    """The thresholds a match must meet, from settings."""

    max_distance: Mapping[str, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> "MatchPolicy":
        return cls({"pdq": settings.pdq_max_distance, "phash": settings.phash_max_distance})


def find_matches(
    index: MatchIndex, prints: SightingPrints, policy: MatchPolicy
) -> list[AssetMatch]:
    """An asset matches when any algorithm finds one of its fingerprints within that
    algorithm's threshold; the best-scoring pair is kept as the evidence."""
    best: dict[UUID, AssetMatch] = {}
    for fingerprint in prints.fingerprints:
        threshold = policy.max_distance.get(fingerprint.algorithm)
        if threshold is None:
            continue
        for hit in index.search(fingerprint, threshold):
            candidate = AssetMatch(
                hit.asset_id, _score(hit), hit.algorithm, hit.variant, hit.distance
            )
            current = best.get(hit.asset_id)
            if current is None or candidate.score > current.score:
                best[hit.asset_id] = candidate
    return sorted(best.values(), key=lambda m: (-m.score, str(m.asset_id)))
