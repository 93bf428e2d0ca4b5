"""One seed's general report sections (header, recall, false leaks), and the table and rate.

Each section prints markdown on stdout and returns its numbers for the JSON; the sections on
LeakSentinel's wrong pairs are in bench/margin_report.py, speed and the copies in
bench/report_shared.py.
"""

import importlib.metadata
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from bench.copies import COPIES, TARGETS, TRANSFORMS
from bench.measured import BOTH, DISTRACTORS, OTHER_ASSETS, PhotoResult, Run
from bench.transforms import ORIGINAL

SHOWN_WRONG_MATCHES = 20  # per method and population in the markdown; the JSON keeps them all


def rate(events: int, trials: int) -> str:
    """Events per trial; for zero events, the one-sided 95% upper bound by the rule of three."""
    if trials == 0:
        return "n/a"
    if events == 0:
        return f"0 (< {3 / trials:.1e})"
    return f"{events / trials:.1e}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    packages = ("pillow", "numpy", "imagehash", "pdqhash")
    return {
        "python": platform.python_version(),
        **{name: importlib.metadata.version(name) for name in packages},
    }


def workers(run: Run) -> str:
    return f"{run.args.workers} worker{'s' if run.args.workers != 1 else ''}"


def report_header(run: Run) -> dict[str, Any]:
    versions, t = _versions(), run.timings
    title = "# LeakSentinel robustness benchmark"
    seeds = getattr(run.args, "seeds", None) or [run.args.seed]
    print(f"{title}, seed {run.args.seed}\n" if len(seeds) > 1 else f"{title}\n")
    print(
        f"{len(run.results)} photos from `{run.args.images}`: {len(run.assets)} registered as "
        f"assets, {len(run.distractors)} distractors (split seed {run.args.seed}); "
        f"{len(COPIES)} copies of each (the file itself and {len(TRANSFORMS)} transforms).  "
    )
    print(
        f"Machine: {os.cpu_count()} CPUs ({workers(run)}), {platform.platform()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ".  "
    )
    print(
        f"Settings: pdq_max_distance {run.thresholds['pdq']}, "
        f"phash_max_distance {run.thresholds['phash']}.  "
    )
    print(
        f"Wall time {t['total']:.0f} s: enrolment {t['enrol']:.0f} s, queries {t['queries']:.0f} s, "
        f"speed {t['speed']:.0f} s, example sheet {t['examples']:.0f} s."
    )
    return {
        "photos": len(run.results),
        "assets": len(run.assets),
        "distractors": len(run.distractors),
        "seed": run.args.seed,
        "images": str(run.args.images),
        "machine": {
            "cpu_count": os.cpu_count(),
            "workers": run.args.workers,
            "platform": platform.platform(),
            **versions,
        },
        "thresholds": run.thresholds,
        "timings_seconds": run.timings,
    }


def report_recall(run: Run) -> dict[str, Any]:
    own, names = run.registered, run.method_names
    recall = {
        copy: {m: sum(r.found_own[copy][m] for r in own) / max(1, len(own)) for m in names}
        for copy in COPIES
    }
    rows = []
    for copy, by_method in recall.items():
        target = TARGETS.get(copy)
        ours = by_method[names[0]]
        meets = all(ours >= by_method[m] for m in names[1:]) and ours >= (target or 0)
        shown_target = "" if target is None else f"{target:g}"
        rows.append(
            [
                copy,
                *(f"{by_method[m]:.3f}" for m in names),
                shown_target,
                "yes" if meets else "**no**",
            ]
        )
    print(f"\n## Recall: share of the {len(own)} registered photos whose copy finds that photo\n")
    header = ["copy", *names, "target (issues 3, 18)", f"{names[0]} meets target and >= baselines"]
    print(table(header, rows))
    missed = {c: [r.key for r in own if not r.found_own[c][names[0]]] for c in COPIES}
    if missed[ORIGINAL]:
        shown = [
            f"{r.key} (low-information: {r.low_information.get(ORIGINAL)})"
            if r.low_information.get(ORIGINAL)
            else r.key
            for r in own
            if r.key in missed[ORIGINAL]
        ]
        print(f"\n{names[0]} does not find the unchanged file of: {', '.join(shown)}.")
    return {"recall": recall, "targets": TARGETS, "missed_by_" + names[0]: missed}


def _leaks(population: Sequence[PhotoResult], names: Sequence[str]) -> Any:
    """Per method: queries that matched a wrong asset, wrong (query, asset) pairs, and each one;
    and the matches of another photo of the query's object, which are neither."""
    found: dict[str, dict[str, Any]] = {}
    for m in names:
        wrong = [(r.key, c, r.found_other[c][m]) for r in population for c in COPIES]
        by_copy: dict[str, int] = {}
        for _, copy, n in wrong:
            if n:
                by_copy[copy] = by_copy.get(copy, 0) + 1
        found[m] = {
            "queries": len(wrong),
            "queries_matching": sum(1 for *_, n in wrong if n),
            "pairs": sum(r.negatives for r in population),
            "pairs_matching": sum(n for *_, n in wrong),
            "queries_matching_by_copy": by_copy,
            "wrong_matches": [w for r in population for w in r.wrong if w.method == m],
            "same_object_pairs": sum(r.same_object for r in population),
            "same_object_matching": sum(r.found_sibling[c][m] for r in population for c in COPIES),
        }
    return found


def report_false_leaks(run: Run) -> dict[str, Any]:
    names = run.method_names
    leaks = {
        DISTRACTORS: _leaks(run.unregistered, names),
        OTHER_ASSETS: _leaks(run.registered, names),
    }
    combined = {
        m: {
            "pairs_matching": sum(by_method[m]["pairs_matching"] for by_method in leaks.values()),
            "pairs": sum(by_method[m]["pairs"] for by_method in leaks.values()),
        }
        for m in names
    }
    rows: list[Sequence[object]] = [
        [
            population,
            m,
            f"{f['queries_matching']} of {f['queries']:,}",
            f"{f['pairs_matching']} of {f['pairs']:,}",
            rate(f["pairs_matching"], f["pairs"]),
        ]
        for population, by_method in leaks.items()
        for m, f in by_method.items()
    ]
    rows += [
        [
            BOTH,
            m,
            "",
            f"{c['pairs_matching']} of {c['pairs']:,}",
            rate(c["pairs_matching"], c["pairs"]),
        ]
        for m, c in combined.items()
    ]
    print(
        "\n## False leaks: every copy of every distractor against every asset, and every copy of "
        "a registered photo against every other asset\n"
    )
    header = ["queries", "method", "queries matching a wrong asset", "wrong (query, asset) pairs"]
    print(table([*header, "false positives per pair"], rows))
    print("\nA zero is bounded by the rule of three: under 3 / pairs per pair at 95% confidence.")
    same = [
        [population, m, f"{f['same_object_matching']} of {f['same_object_pairs']:,}"]
        for population, by_method in leaks.items()
        for m, f in by_method.items()
        if f["same_object_pairs"]
    ]
    if same:
        print(
            "\nNot counted above, as they are not negatives: copies of a photo against a "
            "registered *other photo of an object the copy shows* (two shots of one grocery package, "
            "bench/objects.py; in the copies that show the host photo, the host's object too). "
            "A match there is another photo of the product found.\n"
        )
        print(table(["queries", "method", "(query, same-object asset) pairs matching"], same))
    for population, by_method in leaks.items():
        for m, f in by_method.items():
            if not f["queries_matching_by_copy"]:
                continue
            print(f"\n{m}, {population}: wrong matches by copy {f['queries_matching_by_copy']}:")
            for wrong in f["wrong_matches"][:SHOWN_WRONG_MATCHES]:
                print(f"- {wrong}")
            if len(f["wrong_matches"]) > SHOWN_WRONG_MATCHES:
                print(f"- ... {len(f['wrong_matches']) - SHOWN_WRONG_MATCHES} more in the JSON")
    for by_method in leaks.values():
        for f in by_method.values():
            f["wrong_matches"] = [asdict(w) for w in f["wrong_matches"]]
    return {"false_leaks": leaks, "false_leaks_combined": combined}
