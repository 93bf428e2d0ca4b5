"""Turning index hits into one verdict per asset: which assets a found image shows, how surely,
and through which asset variant and which region of the found image.

Two stages, both run for every found image so that the time to answer says nothing about the
outcome: the global hashes of its regions against every asset variant (fast, exact), and its
local features voted onto assets and verified by a homography (finds crops anywhere, rotations,
perspective, photos of a screen, collage tiles). An asset matched by both keeps the hashes'
verdict and gains the geometric stage's outline of where it lies in the found image."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

from service.detection.feature_index import Candidate
from service.detection.features import LocalFeatures
from service.detection.hashes import ALGORITHM_BITS, ORIGINAL, SightingPrints
from service.detection.index import MatchIndex
from service.detection.verify import Geometry, Polygon, verify

LOCAL_VARIANT = "local-features"  # the variant recorded for a match by local features
LOCAL_REGION = "local"


@dataclass(frozen=True)
class AssetMatch:
    asset_id: UUID
    score: float
    variant: str  # the registered variant that matched, e.g. "flip" or "crop70-lt"
    region: str  # the part of the found image that matched: "original" or "region:..."
    distances: dict[str, int]
    query: Mapping[str, bytes]  # the matched region's fingerprint bits, per algorithm
    # Where the asset lies in the found image, as corner shares, when local features placed it.
    region_polygon: Polygon | None = None


@dataclass(frozen=True)
class FeatureRule:
    """When local features show an asset: enough descriptors vote for it (each within
    `max_distance` bits of an asset descriptor and passing the ratio test), and a homography
    explains at least `min_inliers` of the pairs and `min_density` of the keypoints that could
    have agreed (verify.Geometry.density)."""

    max_distance: int = 64
    ratio: float = 0.8
    min_votes: int = 12
    candidates: int = 8
    min_inliers: int = 15
    min_density: float = 0.04


@dataclass(frozen=True)
class MatchPolicy:
    """A region of the found image matches an asset variant when every algorithm is within its
    threshold on that same pair: one algorithm's chance collision is never enough. Local
    features match by `features`."""

    max_distance: Mapping[str, int]
    features: FeatureRule = field(default_factory=FeatureRule)


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
    for item, prints in enumerate(found):
        for match in _local_matches(index, prints, policy.features):
            current = best[item].get(match.asset_id)
            best[item][match.asset_id] = (
                match if current is None else replace(current, region_polygon=match.region_polygon)
            )
    return [sorted(b.values(), key=lambda m: (-m.score, str(m.asset_id))) for b in best]


def verified_candidates(
    index: MatchIndex, query: LocalFeatures, rule: FeatureRule, *, min_votes: int
) -> list[tuple[Candidate, Geometry | None]]:
    """The `rule.candidates` assets with at least `min_votes` votes from `query`, most votes
    first, each with what verification found (None: no plausible homography). The matching
    rule asks for more votes than this; the benchmark asks with fewer, to see how near a wrong
    asset came."""
    if not len(query):
        return []
    candidates = index.features.candidates(
        query,
        max_distance=rule.max_distance,
        ratio=rule.ratio,
        min_votes=min_votes,
        top=rule.candidates,
    )
    verified = []
    for candidate in candidates:
        asset = index.features.features_of(candidate.asset_id)
        verified.append((candidate, verify(candidate, asset, query) if asset is not None else None))
    return verified


def _local_matches(
    index: MatchIndex, prints: SightingPrints, rule: FeatureRule
) -> list[AssetMatch]:
    """The assets that the found image's local features place by a verified homography."""
    query = prints.local
    if query is None:
        return []
    # The whole found image's hashes, for a dismissal to recognise the same picture again.
    whole = {fp.algorithm: fp.bits for fp in prints.fingerprints if fp.variant == ORIGINAL}
    matches = []
    for candidate, geometry in verified_candidates(
        index, query, rule, min_votes=max(rule.min_votes, rule.min_inliers)
    ):
        if (
            geometry is None
            or geometry.inliers < rule.min_inliers
            or geometry.density < rule.min_density
        ):
            continue
        matches.append(
            AssetMatch(
                candidate.asset_id,
                # The share of the voting pairs that the projection explains: near 1 for a clean
                # copy, lower as noise, other content and repeated texture add stray votes.
                round(geometry.inliers / candidate.votes, 4),
                LOCAL_VARIANT,
                LOCAL_REGION,
                {
                    "inliers": geometry.inliers,
                    "votes": candidate.votes,
                    "density_permille": round(geometry.density * 1000),
                },
                whole,
                geometry.polygon,
            )
        )
    return matches
