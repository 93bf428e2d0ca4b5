"""The report's across-seeds section: recall per transform, method and seed, its mean and minimum.

A multi-seed run (`--seeds 1 2 ...`) measures everything once per seed, the asset/distractor
split, the hosts and every transform's random draws all from that seed; this table puts the
seeds side by side, so a number that holds for one draw only shows up as a spread.
"""

from collections.abc import Sequence
from typing import Any

from bench.copies import COPIES, TARGETS
from bench.measured import Run
from bench.report import rate, table


def _recall(run: Run) -> dict[str, dict[str, float]]:
    own = run.registered
    return {
        copy: {
            m: sum(r.found_own[copy][m] for r in own) / max(1, len(own)) for m in run.method_names
        }
        for copy in COPIES
    }


def report_seeds(runs: Sequence[Run], combined_leaks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Prints the recall of every method at every seed, the mean over the seeds and
    LeakSentinel's minimum; `combined_leaks` is each run's false_leaks_combined."""
    names, seeds = runs[0].method_names, [run.args.seed for run in runs]
    ours, baselines = names[0], names[1:]
    by_seed = {seed: _recall(run) for seed, run in zip(seeds, runs, strict=True)}
    mean = {
        copy: {m: sum(by_seed[s][copy][m] for s in seeds) / len(seeds) for m in names}
        for copy in COPIES
    }
    lowest = {copy: min(by_seed[s][copy][ours] for s in seeds) for copy in COPIES}
    rows, meets = [], {}
    for copy in COPIES:
        target = TARGETS.get(copy) or 0.0
        meets[copy] = all(
            by_seed[s][copy][ours] >= max([target, *(by_seed[s][copy][b] for b in baselines)])
            for s in seeds
        )
        rows.append(
            [
                copy,
                *(f"{by_seed[s][copy][m]:.3f}" for m in names for s in seeds),
                *(f"{mean[copy][m]:.3f}" for m in names),
                f"{lowest[copy]:.3f}",
                "" if copy not in TARGETS else f"{TARGETS[copy]:g}",
                "yes" if meets[copy] else "**no**",
            ]
        )
    assets = ", ".join(f"{len(run.assets)} (seed {run.args.seed})" for run in runs)
    print(
        f"\n## Recall across seeds {', '.join(map(str, seeds))}: share of the registered photos "
        f"whose copy finds that photo; registered photos: {assets}\n"
    )
    header = [
        "copy",
        *(f"{m} s{s}" for m in names for s in seeds),
        *(f"{m} mean" for m in names),
        f"{ours} min",
        "target (issues 3, 18)",
        f"{ours} meets target and >= baselines at every seed",
    ]
    print(table(header, rows))
    print(
        f"\nEach seed draws its own split (cut to --limit after the shuffle), hosts and transform "
        f"parameters. {ours} meets {sum(meets.values())} of {len(COPIES)} rows at every seed."
    )
    leaks = {
        m: {
            "pairs_matching": sum(c[m]["pairs_matching"] for c in combined_leaks),
            "pairs": sum(c[m]["pairs"] for c in combined_leaks),
        }
        for m in names
    }
    print(
        "False leaks over all seeds (wrong (query, asset) pairs of both populations): "
        + "; ".join(
            f"{m} {c['pairs_matching']} of {c['pairs']:,} = {rate(c['pairs_matching'], c['pairs'])}"
            for m, c in leaks.items()
        )
        + "."
    )
    return {
        "seeds": seeds,
        "recall_by_seed": {str(s): by_seed[s] for s in seeds},
        "recall_mean": mean,
        "recall_min_" + ours: lowest,
        "meets_at_every_seed": meets,
        "false_leaks_all_seeds": leaks,
        "targets": TARGETS,
    }
