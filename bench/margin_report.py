"""The report's sections on LeakSentinel's wrong pairs: their margin and the per-pair FP rate.

The margin table shows how close the matching rule came to each wrong (query, asset) pair; the
estimate gives the rule's per-pair false-positive rate measured at the thresholds, its 95% upper
bound, and the rate extrapolated from loosened thresholds.
"""

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from bench.copies import COPIES
from bench.margin import (
    FIT_FACTORS,
    TAIL_FACTORS,
    count_within,
    cutoff,
    fit,
    joint_scale,
    poisson_upper,
)
from bench.measured import BOTH, DISTRACTORS, PhotoResult, Run
from bench.report import table
from service.detection.matching import LOCAL_VARIANT


def _rule_name(run: Run) -> str:
    return f"rule: {' and '.join(run.thresholds)} on one (region, variant)"


def _stack(rows: Sequence[np.ndarray], count: int) -> np.ndarray:
    """Per-asset arrays of many queries as one int32 matrix (query, asset)."""
    if not rows:
        return np.zeros((0, count), dtype=np.int32)
    return np.stack(rows).astype(np.int32)


def _margin_rows(
    population: str, members: Sequence[PhotoResult], run: Run, scale: int
) -> tuple[dict[str, Any], list[Sequence[object]]]:
    """The margin table's rows for one population of wrong (query, asset) pairs."""
    queries = [(r.key, copy, m) for r in members for copy, m in r.margins.items()]
    entries: dict[str, Any] = {}
    rows: list[Sequence[object]] = []
    for algorithm, threshold in run.thresholds.items():
        d = _stack([m.closest[algorithm] for *_, m in queries], len(run.assets))
        valid = d >= 0  # -1: the query's own asset, or nothing the rule can compare
        entry: dict[str, Any] = {"pairs": int(valid.sum()), "threshold": threshold}
        if valid.any():
            masked = np.where(valid, d, np.iinfo(np.int32).max)
            query, asset = divmod(int(masked.argmin()), masked.shape[1])
            key, copy, _ = queries[query]
            entry["closest"] = int(masked.min())
            entry["closest_pair"] = f"{key} ({copy}) vs asset {run.assets[asset]}"
        cutoffs = [cutoff(f, threshold) for f in TAIL_FACTORS]
        entry["within"] = {
            f"{f:g}x ({c})": int((valid & (d <= c)).sum())
            for f, c in zip(TAIL_FACTORS, cutoffs, strict=True)
        }
        entries[algorithm] = entry
        rows.append(
            [population, algorithm, threshold, entry.get("closest", "")]
            + [f"{n:,} (<= {c})" for n, c in zip(entry["within"].values(), cutoffs, strict=True)]
            + [f"{entry['pairs']:,}"]
        )
    # Either algorithm within its threshold on its own, as a one-algorithm rule would match.
    closest = {
        a: _stack([m.closest[a] for *_, m in queries], len(run.assets)) for a in run.thresholds
    }
    comparable = np.logical_and.reduce([d >= 0 for d in closest.values()])
    counts = [
        int(
            (
                np.logical_or.reduce(
                    [d <= cutoff(f, run.thresholds[a]) for a, d in closest.items()]
                )
                & comparable
            ).sum()
        )
        for f in TAIL_FACTORS
    ]
    name = f"any of {', '.join(run.thresholds)}"
    entries[name] = {
        "pairs": int(comparable.sum()),
        "within": {f"{f:g}x": n for f, n in zip(TAIL_FACTORS, counts, strict=True)},
    }
    rows.append([population, name, "", "", *(f"{n:,}" for n in counts), f"{comparable.sum():,}"])
    joint = _stack([m.joint for *_, m in queries], len(run.assets))
    pairs = int((joint >= 0).sum())
    ladder = sorted({*TAIL_FACTORS, *FIT_FACTORS})
    rule: dict[str, Any] = {
        "pairs": pairs,
        "within": {f"{f:g}x": count_within(joint, scale, f) for f in ladder},
    }
    nearest = [(key, copy, m.nearest) for key, copy, m in queries if m.nearest is not None]
    shown_closest = ""
    if nearest:
        key, copy, pair = min(nearest, key=lambda q: (q[2].ratio, q[0], q[1]))
        assert pair is not None
        rule["closest"] = {"query": key, "copy": copy, **asdict(pair)}
        shown_closest = f"{pair.ratio:.3f}x"
    matching = np.argwhere((joint >= 0) & (joint.astype(np.int64) <= scale))
    rule["matching_at_1x"] = [
        (queries[q][0], queries[q][1], run.assets[a]) for q, a in matching.tolist()
    ]
    entries[_rule_name(run)] = rule
    rows.append(
        [population, _rule_name(run), " & ".join(map(str, run.thresholds.values())), shown_closest]
        + [f"{rule['within'][f'{f:g}x']:,}" for f in TAIL_FACTORS]
        + [f"{pairs:,}"]
    )
    return entries, rows


def report_margin(run: Run) -> dict[str, Any]:
    scale = joint_scale(run.thresholds)
    tail: dict[str, Any] = {}
    rows: list[Sequence[object]] = []
    for population, members in run.populations.items():
        tail[population], more = _margin_rows(population, members, run, scale)
        rows += more
    name, rule = run.method_names[0], _rule_name(run)
    print(f"\n## Margin: how close {name} came to matching the same wrong (query, asset) pairs\n")
    factors = [f"pairs within {f:g}x threshold" for f in TAIL_FACTORS]
    print(table(["queries", "distance", "threshold", "closest", *factors, "pairs"], rows))
    print(
        "\nThe rule rows count the pairs where one single region of the sighting and one single "
        "variant of the asset are within k x threshold on every algorithm at once (pdq <= "
        "k x T_pdq and phash <= k x T_phash), which is exactly what find_matches requires at "
        "k = 1; their closest is the smallest k at which a pair would match. The per-algorithm "
        "rows take each algorithm's smallest distance over the same (region, variant) pairs on "
        "its own, so the two need not come from one pair; the any-of rows count the pairs "
        "where at least one of them is within k x its threshold."
    )
    # The hash stage's own wrong matches: those of the geometric stage have their own margin.
    ours = {
        (w.query, w.copy, w.asset)
        for r in run.results
        for w in r.wrong
        if w.method == name and w.variant != LOCAL_VARIANT
    }
    exact = {tuple(p) for entries in tail.values() for p in entries[rule]["matching_at_1x"]}
    if ours == exact:
        print(
            f"Check: at 1x the rule rows hold exactly the wrong pairs that find_matches returned "
            f"through the hashes (the false-leak table less local-features matches): {len(ours)}."
        )
    else:
        print(
            f"**Check failed**: at 1x the rule rows hold {len(exact)} pairs, find_matches "
            f"returned {len(ours)}; only in the rule rows: {sorted(exact - ours)}, only in "
            f"find_matches: {sorted(ours - exact)}."
        )
    for population, entries in tail.items():
        for label, entry in entries.items():
            if "closest_pair" in entry:
                print(
                    f"- closest {label}, {population}: {entry['closest']} bits, "
                    f"{entry['closest_pair']}"
                )
            elif "closest" in entry:
                c = entry["closest"]
                distances = ", ".join(f"{a} {d}" for a, d in c["distances"].items())
                print(
                    f"- closest under the rule, {population}: {c['ratio']:.3f}x the thresholds, "
                    f"{c['query']} ({c['copy']}) region `{c['region']}` vs asset {c['asset']} "
                    f"variant `{c['variant']}`: {distances}"
                )
    low = {c: sum(bool(r.low_information.get(c)) for r in run.results) for c in COPIES}
    if any(low.values()):
        counts = ", ".join(f"{c} {n}" for c, n in low.items() if n)
        print(f"\nQueries {name} flagged as low-information: {counts}.")
    errors = [e for r in run.results for e in r.errors]
    if errors:
        print(f"\n{len(errors)} queries failed (counted as not detected), e.g.:")
        for e in errors[:10]:
            print(f"- {e}")
    return {"tail": tail, "low_information_queries": low, "errors": errors}


def report_estimate(run: Run, tail: dict[str, Any]) -> dict[str, Any]:
    """The rule's per-pair false-positive rate: measured, bounded, and extrapolated."""
    rule = _rule_name(run)
    counts = {p: entries[rule]["within"] for p, entries in tail.items()}
    pairs = {p: entries[rule]["pairs"] for p, entries in tail.items()}
    counts[BOTH] = {f: sum(c[f] for c in counts.values()) for f in counts[DISTRACTORS]}
    pairs[BOTH] = sum(pairs.values())
    ladder = [1.0, *FIT_FACTORS]
    print(
        f"\n## Per-pair false-positive rate of {run.method_names[0]}'s rule, measured and "
        "extrapolated\n"
    )
    header = ["k", *(f"{a} <=" for a in run.thresholds), *counts, f"{BOTH}: rate"]
    rows = [
        [
            f"{k:g}",
            *(cutoff(k, t) for t in run.thresholds.values()),
            *(f"{c[f'{k:g}x']:,}" for c in counts.values()),
            f"{counts[BOTH][f'{k:g}x'] / max(1, pairs[BOTH]):.2e}",
        ]
        for k in ladder
    ]
    print(table(header, rows))
    out: dict[str, Any] = {"method": ESTIMATE_METHOD, "factors": FIT_FACTORS, "populations": {}}
    rows = []
    for population, within in counts.items():
        n, events = pairs[population], within["1x"]
        fitted = fit(FIT_FACTORS, [within[f"{f:g}x"] for f in FIT_FACTORS], n)
        bound = poisson_upper(events, n)
        out["populations"][population] = {
            "pairs": n,
            "matching_at_1x": events,
            "measured": events / n if n else None,
            "upper_95": bound,
            "fit": fitted,
        }
        rows.append(
            [
                population,
                f"{n:,}",
                f"{events:,}",
                f"{events / n:.1e}" if n else "n/a",
                f"{bound:.1e}",
                f"{fitted['estimate']:.1e}" if fitted else "n/a",
                f"ln rate = {fitted['intercept']:.1f} + {fitted['slope_per_unit_k']:.1f} k, "
                f"{len(fitted['factors'])} points, rms residual {fitted['rms_residual_log']:.2f}"
                if fitted
                else "fewer than two ladder points with a match",
            ]
        )
    print()
    header = ["queries", "pairs", "matching at 1x", "measured rate", "95% upper bound"]
    print(table([*header, "extrapolated rate at 1x", "fit"], rows))
    print(f"\n{ESTIMATE_METHOD}")
    return {"false_positive_estimate": out}


ESTIMATE_METHOD = (
    "Method: the pairs the rule matches with both thresholds multiplied by k = "
    + ", ".join(f"{k:g}" for k in FIT_FACTORS)
    + " are counted, a least-squares line is fitted to ln(matching pairs / pairs) against k over "
    "the ladder points with at least one match, and its value at k = 1 is the extrapolated rate; "
    "the bound is the one-sided 95% Poisson upper bound on the count measured at k = 1 (for a zero "
    "count, the rule of three, 3 / pairs)."
)
