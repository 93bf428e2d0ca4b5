"""The report's section on the geometric stage's margin: how near a wrong asset came to matching
by local features, against the rule's two thresholds (inliers and density, service Settings).

For every query, bench/methods.py's `nearest_wrong_local` asks the feature index with the fewest
votes a homography needs and verifies the most-voted wrong assets; the nearest one (most inliers)
is kept. A query is "within k" when that asset would match were both thresholds loosened k
times (at least min_inliers / k inliers and min_density / k density): the counts for k > 1 show
how far the rule sits from the wrong pairs, as the hash stage's margin table does for distances.
"""

import math
from dataclasses import asdict
from typing import Any

from bench.copies import COPIES
from bench.measured import Run
from bench.report import table
from service.settings import Settings

FACTORS = (1.0, 1.25, 1.5, 2.0)


def report_local_margin(run: Run) -> dict[str, Any]:
    rule = Settings().match_policy.features
    print(
        "\n## Margin of the geometric stage: the wrong asset each query's local features came "
        f"nearest to, against the rule (at least {rule.min_inliers} inliers and density "
        f"{rule.min_density})\n"
    )
    numbers: dict[str, Any] = {}
    rows = []
    for population, members in run.populations.items():
        misses = [
            (r.key, copy, miss)
            for r in members
            for copy in COPIES
            if (miss := r.local_misses.get(copy)) is not None
        ]
        queries = sum(1 for r in members for copy in COPIES if copy in r.margins)
        within = {
            f"{k:g}x": sum(
                1
                for *_, m in misses
                if m.inliers >= math.ceil(rule.min_inliers / k)
                and m.density >= rule.min_density / k
            )
            for k in FACTORS
        }
        nearest = max(misses, key=lambda q: (q[2].inliers, q[2].density), default=None)
        numbers[population] = {
            "queries": queries,
            "queries_with_a_voted_wrong_asset": len(misses),
            "within": within,
            "nearest": None
            if nearest is None
            else {"query": nearest[0], "copy": nearest[1]} | asdict(nearest[2]),
        }
        shown = (
            ""
            if nearest is None
            else (
                f"{nearest[2].inliers} inliers, density {nearest[2].density:.3f} "
                f"({nearest[0]}, {nearest[1]}, vs {nearest[2].asset})"
            )
        )
        rows.append([population, f"{queries:,}", len(misses), shown, *within.values()])
    header = ["queries", "count", "with a wrong asset voted", "nearest wrong asset"]
    print(table([*header, *(f"within {k:g}x" for k in FACTORS)], rows))
    print(
        "\n'within k' counts queries whose nearest wrong asset has at least min_inliers / k "
        "inliers and min_density / k density; at 1x it would be a false leak."
    )
    return {"local_margin": numbers}
