"""Turning index hits into one verdict per asset: which assets a found image shows, how surely,
and through which asset variant and which region of the found image."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from service.detection.hashes import ALGORITHM_BITS, SightingPrints
from service.detection.index import MatchIndex


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


def score(distances: Mapping[str, int]) -> float:
    """Mean similarity over the algorithms, 1.0 for identical bits, about 0.5 for unrelated images."""
    similarity = [1 - distances[a] / bits for a, bits in ALGORITHM_BITS.items()]
    return round(sum(similarity) / len(similarity), 4)


def find_matches(
    index: MatchIndex, prints: SightingPrints, policy: MatchPolicy
) -> list[AssetMatch]:
    return find_matches_many(index, [prints], policy)[0]


def find_matches_many(
    index: MatchIndex, found: Sequence[SightingPrints], policy: MatchPolicy
) -> list[list[AssetMatch]]:
    """`find_matches` for each found image, with one index search for all their regions: the
    best match per asset, best first. A region counts only with every algorithm's print."""
    asked: list[tuple[int, str, dict[str, bytes]]] = []
    for item, prints in enumerate(found):
        by_region: dict[str, dict[str, bytes]] = {}
        for fp in prints.fingerprints:
            by_region.setdefault(fp.variant, {})[fp.algorithm] = fp.bits
        asked += [(item, r, q) for r, q in by_region.items() if set(q) == set(ALGORITHM_BITS)]
    hits = index.search_many([query for _, _, query in asked], policy.max_distance)
    best: list[dict[UUID, AssetMatch]] = [{} for _ in found]
    for (item, region, query), region_hits in zip(asked, hits, strict=True):
        for hit in region_hits:
            candidate = AssetMatch(
                hit.asset_id, score(hit.distances), hit.variant, region, hit.distances, query
            )
            current = best[item].get(hit.asset_id)
            if current is None or candidate.score > current.score:
                best[item][hit.asset_id] = candidate
    return [sorted(b.values(), key=lambda m: (-m.score, str(m.asset_id))) for b in best]
