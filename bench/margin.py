"""The margin behind LeakSentinel's false-leak count: how far each wrong pair is from a match.

The matching rule (service.detection.matching) lets a region of a found image match an asset variant only
when every algorithm is within its threshold on that same (region, variant) pair. For one query
and one asset, the rule therefore matches with every threshold multiplied by k exactly when

    min over (region, variant) of  max over algorithms of  distance / threshold  <=  k,

so that one number per (query, asset) pair, the pair's "joint ratio", answers the question for
every k at once. It is kept as an integer, scaled by the least common multiple of the thresholds,
so that comparisons with k * threshold are exact. The per-pair false-positive rate at k = 1 is
then both measured and extrapolated from a ladder of loosened thresholds (see `fit`).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.methods import popcount_distances
from service.detection.hashes import Fingerprint, SightingPrints

# The factors the margin table shows, and the ladder the false-positive estimate is fitted on.
TAIL_FACTORS = (1.0, 1.25, 1.5)
FIT_FACTORS = (1.1, 1.2, 1.3, 1.4, 1.5, 1.6)
Z_95 = 1.6448536269514722  # the standard normal quantile of 0.95
NONE = -1  # in a per-asset array: the query's own asset, or nothing the rule can compare


def hundredths(factor: float) -> int:
    return round(factor * 100)


def joint_scale(thresholds: Mapping[str, int]) -> int:
    """What joint ratios are multiplied by to be integers: the thresholds' least common multiple."""
    return math.lcm(*thresholds.values())


def cutoff(factor: float, threshold: int) -> int:
    """The largest distance within `factor` x `threshold`, in exact integer arithmetic."""
    return hundredths(factor) * threshold // 100


@dataclass(frozen=True)
class PairDetail:
    """One (sighting region, asset variant) pair of a query and an asset, and its distances."""

    asset: str
    region: str
    variant: str
    distances: dict[str, int]
    ratio: float  # max over algorithms of distance / threshold


@dataclass(frozen=True)
class QueryMargin:
    """One query against every registered asset (registration order; NONE where not compared)."""

    closest: dict[str, np.ndarray]  # algorithm -> smallest distance per asset, int16
    joint: np.ndarray  # the joint ratio per asset, times RuleTable.scale, int32
    nearest: PairDetail | None  # the pair with the smallest joint ratio, over the wrong assets


def group_by_variant(
    prints: Sequence[Fingerprint], algorithms: Sequence[str]
) -> list[tuple[str, dict[str, bytes]]]:
    """The bits per algorithm of every variant (or region) that has each algorithm exactly: the
    pairs the rule compares. As in MatchIndex and find_matches, a later duplicate wins."""
    by_variant: dict[str, dict[str, bytes]] = {}
    for fp in prints:
        by_variant.setdefault(fp.variant, {})[fp.algorithm] = fp.bits
    return [(v, bits) for v, bits in by_variant.items() if set(bits) == set(algorithms)]


def _matrix(rows: list[bytes], width: int) -> np.ndarray:
    packed = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width)
    return packed.view(np.uint64) if width % 8 == 0 else packed


class RuleTable:
    """Every registered asset variant that the rule can compare, one row per (asset, variant),
    with one packed bit matrix per algorithm."""

    def __init__(
        self, enrolled: Sequence[tuple[str, Sequence[Fingerprint]]], thresholds: Mapping[str, int]
    ) -> None:
        if min(thresholds.values()) <= 0:
            raise ValueError(f"the margin needs positive thresholds, not {dict(thresholds)}")
        self.algorithms = list(thresholds)
        self.thresholds = dict(thresholds)
        self.scale = joint_scale(thresholds)
        self._weights = {a: self.scale // t for a, t in thresholds.items()}
        self.keys = [key for key, _ in enrolled]
        rows: dict[str, list[bytes]] = {a: [] for a in self.algorithms}
        owners: list[int] = []
        self._variants: list[str] = []
        for position, (_, prints) in enumerate(enrolled):
            for variant, bits in group_by_variant(prints, self.algorithms):
                owners.append(position)
                self._variants.append(variant)
                for a in self.algorithms:
                    rows[a].append(bits[a])
        self._owners = np.asarray(owners, dtype=np.intp)
        self._bits = {a: _matrix(rows[a], len(rows[a][0]) if rows[a] else 8) for a in rows}
        # Rows are in registration order, so each asset's rows are one run: reduceat per asset.
        self._starts = np.flatnonzero(np.r_[True, self._owners[1:] != self._owners[:-1]])
        self._present = self._owners[self._starts] if owners else self._owners

    def measure(self, prints: SightingPrints, own: Sequence[int]) -> QueryMargin:
        """Per asset, the closest distance per algorithm and the joint ratio over the rule's
        (region, variant) pairs; `own` (the positions of the query's own asset and of other
        photos of its object, bench/objects.py) are left out."""
        count = len(self.keys)
        closest = {a: np.full(count, NONE, dtype=np.int16) for a in self.algorithms}
        joint = np.full(count, NONE, dtype=np.int32)
        regions = group_by_variant(prints.fingerprints, self.algorithms)
        if not regions or not len(self._owners):
            return QueryMargin(closest, joint, None)
        distances: dict[str, np.ndarray] = {}
        for a in self.algorithms:
            queries = _matrix([bits[a] for _, bits in regions], len(regions[0][1][a]))
            distances[a] = popcount_distances(self._bits[a], queries)  # (regions, rows)
        scaled = np.maximum.reduce([distances[a] * self._weights[a] for a in self.algorithms])
        per_row = scaled.min(axis=0)
        joint[self._present] = np.minimum.reduceat(per_row, self._starts)
        for a in self.algorithms:
            nearest_row = distances[a].min(axis=0)
            closest[a][self._present] = np.minimum.reduceat(nearest_row, self._starts)
        excluded = np.asarray(own, dtype=np.intp)
        joint[excluded] = NONE
        for values in closest.values():
            values[excluded] = NONE
        wrong = np.where(np.isin(self._owners, excluded), -1, per_row)
        nearest = None
        if (wrong >= 0).any():
            row = int(np.where(wrong >= 0, wrong, np.iinfo(np.int32).max).argmin())
            region = int(scaled[:, row].argmin())
            nearest = PairDetail(
                asset=self.keys[int(self._owners[row])],
                region=regions[region][0],
                variant=self._variants[row],
                distances={a: int(distances[a][region, row]) for a in self.algorithms},
                ratio=int(scaled[region, row]) / self.scale,
            )
        return QueryMargin(closest, joint, nearest)


def count_within(joint: np.ndarray, scale: int, factor: float) -> int:
    """Pairs (entries >= 0 of a stack of QueryMargin.joint) that the rule matches with every
    threshold multiplied by `factor`."""
    limit = hundredths(factor) * scale
    return int(((joint >= 0) & (joint.astype(np.int64) * 100 <= limit)).sum())


def fit(
    factors: Sequence[float], counts: Sequence[int], pairs: int, at: float = 1.0
) -> dict[str, Any] | None:
    """The least-squares line through log(count / pairs) against the factor, over the ladder
    points with at least one pair, and its value at `at` (None with fewer than two points)."""
    points = [(f, c) for f, c in zip(factors, counts, strict=True) if c > 0]
    if len(points) < 2 or pairs == 0:
        return None
    x = np.asarray([f for f, _ in points])
    y = np.log(np.asarray([c / pairs for _, c in points]))
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    return {
        "factors": [f for f, _ in points],
        "slope_per_unit_k": float(slope),
        "intercept": float(intercept),
        "rms_residual_log": float(np.sqrt(np.mean(residual**2))),
        "estimate": float(math.exp(intercept + slope * at)),
        "at": at,
    }


def poisson_upper(events: int, trials: int) -> float:
    """The one-sided 95% upper confidence bound of a per-trial rate for `events` in `trials`:
    exact Poisson up to 100 events (for zero it is -ln(0.05) / trials, the rule of three), the
    Wilson-Hilferty approximation above."""
    if trials == 0:
        return math.nan
    if events > 100:
        n = events + 1
        return n * (1 - 1 / (9 * n) + Z_95 / (3 * math.sqrt(n))) ** 3 / trials

    def cdf(mean: float) -> float:
        term = total = math.exp(-mean)
        for i in range(1, events + 1):
            term *= mean / i
            total += term
        return total

    low, high = float(events), 2.0 * events + 10
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) > 0.05 else (low, middle)
    return high / trials
