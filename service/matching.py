"""Turning index hits into one verdict per asset: which assets a found image shows, how surely,
and through which asset variant and which region of the found image."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from service.fingerprints import ALGORITHM_BITS, SightingPrints
from service.index import MatchIndex
from service.settings import Settings


@dataclass(frozen=True)
class AssetMatch:
    asset_id: UUID
    score: float
    variant: str  # the registered variant that matched, e.g. "flip" or "crop70-lt"
    region: str  # the part of the found image that matched: "original" or "region:..."
    distances: dict[str, int]
    query: Mapping[str, bytes]  # the matched region's fingerprint bits, per algorithm


@dataclass(frozen=True)
class MatchPolicy:
    """A region of the found image matches an asset variant when every algorithm is within its
    threshold on that same pair: one algorithm's chance collision is never enough."""

    max_distance: Mapping[str, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> "MatchPolicy":
        return cls({"pdq": settings.pdq_max_distance, "phash": settings.phash_max_distance})


def score(distances: Mapping[str, int]) -> float:
    """Mean similarity over the algorithms, 1.0 for identical bits, about 0.5 for unrelated images."""
    similarity = [1 - distances[a] / bits for a, bits in ALGORITHM_BITS.items()]
    return round(sum(similarity) / len(similarity), 4)


def find_matches(
    index: MatchIndex, prints: SightingPrints, policy: MatchPolicy
) -> list[AssetMatch]:
    by_region: dict[str, dict[str, bytes]] = {}
    for fp in prints.fingerprints:
        by_region.setdefault(fp.variant, {})[fp.algorithm] = fp.bits
    best: dict[UUID, AssetMatch] = {}
    for region, query in by_region.items():
        if set(query) != set(ALGORITHM_BITS):
            continue
        for hit in index.search(query, policy.max_distance):
            candidate = AssetMatch(
                hit.asset_id, score(hit.distances), hit.variant, region, hit.distances, query
            )
            current = best.get(hit.asset_id)
            if current is None or candidate.score > current.score:
                best[hit.asset_id] = candidate
    return sorted(best.values(), key=lambda m: (-m.score, str(m.asset_id)))
