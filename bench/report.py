"""What a run measured, and the report's general sections: header, recall, false leaks, speed, copies.

Each section prints markdown on stdout and returns its numbers for the JSON; the sections on
LeakSentinel's wrong pairs are in bench/margin_report.py. Also the example sheet of the copies.
"""

import argparse
import importlib.metadata
import io
import math
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from bench.copies import COPIES, TARGETS, TRANSFORMS, make_copies
from bench.margin import QueryMargin
from bench.methods import LocalNearMiss
from bench.transforms import ORIGINAL, describe, full_decode, load_font

DISTRACTORS = "distractors"
OTHER_ASSETS = "registered copies vs other assets"
BOTH = "both together"
SHOWN_WRONG_MATCHES = 20  # per method and population in the markdown; the JSON keeps them all


@dataclass(frozen=True)
class WrongMatch:
    """A query detected as an asset that it is not a copy of; region, variant and distances are
    known for LeakSentinel only."""

    method: str
    query: str
    copy: str
    asset: str
    region: str | None = None
    variant: str | None = None
    distances: dict[str, int] | None = None
    score: float | None = None

    def __str__(self) -> str:
        shown = f"`{self.query}` ({self.copy}) matched asset `{self.asset}`"
        if self.distances is None:
            return shown
        distances = ", ".join(f"{a} {d}" for a, d in self.distances.items())
        return (
            f"{shown}: sighting region `{self.region}` vs asset variant `{self.variant}`, "
            f"{distances} (score {self.score})"
        )


@dataclass
class PhotoResult:
    key: str
    registered: bool
    found_own: dict[str, dict[str, bool]] = field(default_factory=dict)  # copy -> method -> hit
    found_other: dict[str, dict[str, int]] = field(default_factory=dict)  # assets wrongly matched
    # copy -> method -> other registered photos of the same object matched (bench/objects.py)
    found_sibling: dict[str, dict[str, int]] = field(default_factory=dict)
    negatives: int = 0  # (copy, asset) pairs with an asset of another object: the negatives
    same_object: int = 0  # (copy, asset) pairs with another registered photo of an object shown
    wrong: list[WrongMatch] = field(default_factory=list)
    margins: dict[str, QueryMargin] = field(default_factory=dict)  # copy -> LeakSentinel's margin
    # copy -> the wrong asset LeakSentinel's local features came nearest to, if any voted
    local_misses: dict[str, LocalNearMiss | None] = field(default_factory=dict)
    low_information: dict[str, str | None] = field(default_factory=dict)  # copy -> reason
    errors: list[str] = field(default_factory=list)
    method_seconds: dict[str, float] = field(default_factory=dict)
    search_seconds: list[float] = field(default_factory=list)
    transform_seconds: float = 0.0


@dataclass(frozen=True)
class Run:
    args: argparse.Namespace
    assets: list[str]  # registration order
    distractors: list[str]
    results: list[PhotoResult]
    method_names: list[str]
    thresholds: dict[str, int]  # the matching rule's, per algorithm
    timings: dict[str, float]
    enrol_seconds: dict[str, float]
    speeds: dict[str, Any]

    @property
    def registered(self) -> list[PhotoResult]:
        return [r for r in self.results if r.registered]

    @property
    def unregistered(self) -> list[PhotoResult]:
        return [r for r in self.results if not r.registered]

    @property
    def populations(self) -> dict[str, list[PhotoResult]]:
        return {DISTRACTORS: self.unregistered, OTHER_ASSETS: self.registered}


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


def report_speed(run: Run) -> dict[str, Any]:
    speeds, names, results = run.speeds, run.method_names, run.results
    baseline, sighting = speeds["baseline"], speeds["sighting"]
    print(
        f"\n## Speed: the {len(speeds['images'])} largest bench photos (pixel area), each "
        f"{speeds['frame']}; median of {speeds['loops']} runs per image and pipeline, "
        "interleaved, in one process\n"
    )
    short = speeds["short"]
    header = ["image", "source", "bytes", f"{short[baseline]} ms", f"{short[sighting]} ms", "ratio"]
    others = [p for p in speeds["pipelines"] if p not in (baseline, sighting)]
    rows = [
        [
            image["image"],
            image["source_size"],
            f"{image['bytes']:,}",
            f"{image['ms'][baseline]:.1f}",
            f"{image['ms'][sighting]:.1f}",
            f"{image['ms'][baseline] / image['ms'][sighting]:.2f}x",
            *(f"{image['ms'][p]:.1f}" for p in others),
            image["sighting_fingerprints"],
            f"{image['search_ms']:.3f}",
        ]
        for image in speeds["images"]
    ]
    extra = [f"{short[p]} ms" for p in others] + ["sighting fingerprints", "find_matches ms"]
    print(table(header + extra, rows))
    print()
    rows = [
        [
            p,
            f"{s['images_per_second']:.1f}",
            f"{s['mean_ms']:.1f}",
            f"{s['aggregate_ratio']:.2f}x",
            f"{s['median_ratio']:.2f}x",
        ]
        for p, s in speeds["pipelines"].items()
    ]
    header = ["pipeline", "images / s (all images)", "ms / image (mean)"]
    print(table([*header, "speed vs baseline (aggregate)", "median per-image ratio"], rows))
    print(
        f"\nA ratio is {short[baseline]}'s time over the other pipeline's on the same image; "
        "images / s is the number of images over the sum of their median times. "
        + "; ".join(f"{label}: {p}" for p, label in short.items())
        + ".  "
    )
    print(
        f"find_matches against the index of all {speeds['index_assets']} assets "
        f"({speeds['index_fingerprints']:,} fingerprints), median over the images: "
        f"{speeds['search_ms']:.3f} ms (one process).  "
    )
    out: dict[str, Any] = {"speed": speeds}
    searches = np.asarray([s for r in results for s in r.search_seconds]) * 1000
    if searches.size:
        out["search_in_run_ms"] = {
            "queries": int(searches.size),
            "mean": float(searches.mean()),
            "p95": float(np.percentile(searches, 95)),
            "max": float(searches.max()),
        }
        print(
            f"find_matches over the run's {searches.size:,} queries ({workers(run)} busy): mean {searches.mean():.3f} ms, p95 {np.percentile(searches, 95):.3f} ms, "
            f"max {searches.max():.3f} ms.  "
        )
    queries = max(1, len(results) * len(COPIES))
    out["query_ms"] = {m: sum(r.method_seconds[m] for r in results) / queries * 1000 for m in names}
    out["enrol_ms"] = {m: s * 1000 for m, s in run.enrol_seconds.items()}
    transform_ms = sum(r.transform_seconds for r in results) / max(1, len(results)) * 1000
    print(
        f"Time per query in the run (decode + fingerprint + search, {workers(run)} busy), and "
        "per asset enrolment: "
        + ", ".join(
            f"{m} {out['query_ms'][m]:.1f} ms (enrolment {out['enrol_ms'][m]:.1f} ms)"
            for m in names
        )
        + f"; making the {len(TRANSFORMS)} copies of one photo {transform_ms:.0f} ms."
    )
    return out


def report_transforms() -> dict[str, Any]:
    described = {ORIGINAL: "The photo's file itself, unchanged."}
    described |= {name: describe(fn) for name, fn in TRANSFORMS.items()}
    print("\n## The copies\n")
    print(table(["copy", "how it is made"], described.items()))
    return {"transforms": described}


def _shown(data: bytes) -> Image.Image:
    """A copy as RGB for the sheet; a 16-bit file is scaled to 8 bits (full_decode, like the
    baselines, clips it to white)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            wide = np.asarray(image.convert("I"), dtype=np.int64)
            return Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8)).convert("RGB")
    return full_decode(data)


def example_sheet(seed: int, photos: Sequence[tuple[str, Path, Path]], out: Path) -> None:
    """Every copy (drawn from `seed`) of a few photos (key, file, unrelated host photo), decoded
    from the bytes a query sees, one block per photo (shown no larger than a cell; smaller copies stay smaller)."""
    cell, label_h, title_h, columns, gap = 240, 20, 30, 7, 8
    rows = math.ceil(len(COPIES) / columns)
    block_h = title_h + rows * (cell + label_h + gap)
    sheet = Image.new("RGB", (columns * (cell + gap), len(photos) * block_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font, title_font = load_font(14), load_font(20)
    for p, (key, path, host_path) in enumerate(photos):
        top = p * block_h
        draw.text((4, top + 4), key, font=title_font, fill=(0, 0, 0))
        data = path.read_bytes()
        copies = make_copies(
            seed, key, data, full_decode(data), full_decode(host_path.read_bytes())
        )
        for i, (name, copy) in enumerate(zip(COPIES, copies, strict=True)):
            thumb = _shown(copy)
            thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            x = (i % columns) * (cell + gap) + gap // 2
            y = top + title_h + (i // columns) * (cell + label_h + gap)
            draw.text((x, y + 2), name, font=font, fill=(0, 0, 0))
            draw.rectangle(
                (x, y + label_h, x + cell - 1, y + label_h + cell - 1), fill=(225, 225, 225)
            )
            offset = (x + (cell - thumb.width) // 2, y + label_h + (cell - thumb.height) // 2)
            sheet.paste(thumb, offset)
    sheet.save(out)
