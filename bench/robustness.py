"""The robustness benchmark's driver: the seeds, speed, the example sheet, the report, main.

How well LeakSentinel recognises leaked copies of registered photos, beside two baselines,
measured on the real photographs in ../shared/bench-images (read in place, never copied):

- The photos are split at random (sorted paths, seeded shuffle) into registered assets and
  distractors, half each.
- Every photo is put through a documented set of transforms (bench/transforms.py, issue 3's,
  and bench/transforms_geo.py, issue 18's, merged in bench/copies.py; each is a pure,
  deterministic function of the picture, a random source seeded from (seed, file name,
  transform name) and an unrelated distractor photo, that returns the file a crawler would
  fetch): re-encodes, resizes, centred and corner crops, flips, rotations, colour changes, blur,
  grayscale, a caption bar, a social-media screenshot frame, an embed inside an unrelated photo,
  a watermark; and crops at uniformly random positions (85%, 70%, 50%), rotations by 10-20°,
  perspective warps, a photo of a screen, a collage tile, a side-by-side, a meme caption, a text
  and emoji overlay, padding to a square, a 16-bit greyscale PNG.
- The seed (--seed, default 0) draws the split, each photo's host photo and every random choice
  of every transform: a run is reproducible from its seed, and another seed draws other crop
  boxes, angles, positions. --seeds 1 2 ... runs the whole measurement once per seed and prints
  first a table of recall per transform, method and seed with the mean over the seeds and
  LeakSentinel's minimum (and whether it meets the target and the baselines at every seed),
  then each seed's own sections; speed is measured once, on the first seed's assets.
- Three methods are measured in the same run through one loop (bench/methods.py):
  LeakSentinel through its service entry points (decode, fingerprint_asset / fingerprint_sighting,
  MatchIndex, find_matches with the thresholds in Settings), "pHash@10" (imagehash.phash of the
  full decode, match within Hamming distance 10 of an asset's pHash) and "PDQ@31" (pdqhash of the
  full decode, within 31).
- Recall: per transform, the share of registered assets whose transformed copy finds that asset.
- False leaks: every distractor, untransformed and transformed, is queried against all assets.
  Printed: queries that matched anything, and matched (query, asset) pairs over all pairs, with
  every wrong match (for LeakSentinel with the sighting region, asset variant and distances);
  zero events are bounded by the rule of three (3 / pairs at 95%). The same is counted for
  copies of registered photos matching a *different* asset.
- Margin (bench/margin.py): for LeakSentinel, every such wrong pair's closest distance per
  algorithm, and whether one single (sighting region, asset variant) pair is within k times
  both thresholds at once, as the matching rule requires, for k = 1, 1.25, 1.5; and the rule's
  per-pair false-positive rate: measured at k = 1, bounded, and extrapolated from a log-linear
  fit over k = 1.1 ... 1.6.
- Speed (bench/speed.py): images per second on the 6 largest photos, each fitted to a 1080p
  JPEG, for LeakSentinel's sighting and asset fingerprinting against the baseline
  imagehash.phash on a full decode (and pdqhash), in one process; LeakSentinel's decode step alone and the SHA-256
  of the file within it, to show where the sighting pipeline's time goes; the time of one
  find_matches against the index holding every registered asset.

Run from the repository root (a full run takes about 4 minutes per seed on 2 cores, plus half a
minute for speed and the example sheet):

    .venv/bin/python -m bench.robustness [--images ../shared/bench-images] [--limit N]
        [--workers N] [--seed 0 | --seeds 1 2 ...] [--speed-loops 40] [--results bench/results]

e.g. `.venv/bin/python -m bench.robustness --seeds 1 2 --workers 2` (each seed is a full run of
the queries, so twice the time), or `--limit 40 --seeds 1 2` for a quick check.

stdout is a markdown report that can be pasted into bench/README.md; progress goes to stderr.
All numbers are also written to <results>/robustness.json (for several seeds: "across_seeds",
"per_seed" keyed by seed, and the shared speed and copies), and an example sheet of every
transform (drawn from the first seed) to <results>/robustness-transforms.png (bench/results/ is
git-ignored).
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.local_margin import report_local_margin
from bench.margin_report import report_estimate, report_margin
from bench.measured import Run
from bench.methods import make_methods
from bench.report import report_false_leaks, report_header, report_recall
from bench.report_shared import example_sheet, report_speed, report_transforms
from bench.robustness_measure import measure, thresholds
from bench.seeds import report_seeds
from bench.speed import speed
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The report: one seed's sections, or the table across seeds first


def _seed_sections(run: Run) -> dict[str, Any]:
    """One seed's sections: header, recall, false leaks, both margins and the estimate."""
    numbers: dict[str, Any] = {}
    for section in (
        report_header,
        report_recall,
        report_false_leaks,
        report_margin,
        report_local_margin,
    ):
        numbers |= section(run)
    return numbers | report_estimate(run, numbers["tail"])


def report(run: Run) -> dict[str, Any]:
    """Prints the markdown report, section by section; returns every number in it."""
    numbers = _seed_sections(run) | report_speed(run)
    return numbers | report_transforms()


def report_multi(runs: Sequence[Run]) -> dict[str, Any]:
    """A multi-seed run: the across-seeds recall table first, then each seed's own sections
    (header, recall, false leaks, margin, estimate), then speed (measured once, on the first
    seed's assets) and the copies."""
    per_seed: dict[str, dict[str, Any]] = {}
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # the numbers first; printed below, seed by seed
        for run in runs:
            per_seed[str(run.args.seed)] = _seed_sections(run)
    seeds = ", ".join(str(run.args.seed) for run in runs)
    print(f"# LeakSentinel robustness benchmark, seeds {seeds}")
    combined = [per_seed[str(run.args.seed)]["false_leaks_combined"] for run in runs]
    across = report_seeds(runs, combined)
    print()
    print(quiet.getvalue())
    shared = report_speed(runs[0]) | report_transforms()
    return {"seeds": across["seeds"], "across_seeds": across, "per_seed": per_seed, **shared}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=REPO_ROOT.parent / "shared" / "bench-images")
    parser.add_argument("--limit", type=int, default=None, help="use only N photos (at least 4)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the asset/distractor split, the hosts and every transform",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="run the whole measurement once per seed (overrides --seed) and add a table of "
        "recall per seed, its mean and minimum",
    )
    parser.add_argument(
        "--speed-loops", type=int, default=40, help="timed runs per speed image and pipeline"
    )
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--examples", type=int, default=3, help="photos on the example sheet")
    args = parser.parse_args()
    if args.limit is not None and args.limit < 4:
        parser.error("--limit must be at least 4")
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]

    started = time.perf_counter()
    files = sorted(args.images.glob("*/*.jpg"))
    if not files:
        parser.error(f"no photos in {args.images}/*/*.jpg")
    measured = [measure(files, args, seed) for seed in seeds]

    shared: dict[str, float] = {}
    phase = time.perf_counter()
    speeds = speed(files, measured[0].enrolled, args.speed_loops)
    shared["speed"] = time.perf_counter() - phase

    phase = time.perf_counter()
    args.results.mkdir(parents=True, exist_ok=True)
    first = measured[0]
    asset_jobs = [job for job in first.jobs if job.registered]
    step = max(1, len(asset_jobs) // max(1, args.examples))
    examples = [(job.key, job.path, job.host_path) for job in asset_jobs[::step][: args.examples]]
    sheet = args.results / "robustness-transforms.png"
    example_sheet(first.seed, examples, sheet)
    shared["examples"] = time.perf_counter() - phase
    shared["total"] = time.perf_counter() - started

    method_names = [m.name for m in make_methods(Settings())]
    runs = [
        Run(
            argparse.Namespace(**{**vars(args), "seed": m.seed, "seeds": seeds}),
            m.assets,
            m.distractors,
            m.results,
            method_names,
            thresholds(),
            m.timings | shared,
            m.enrol_seconds,
            speeds,
        )
        for m in measured
    ]
    out = args.results / "robustness.json"
    numbers = report(runs[0]) if len(runs) == 1 else report_multi(runs)
    out.write_text(json.dumps(numbers, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nNumbers written to {out}, example sheet to {sheet}.", file=sys.stderr)


if __name__ == "__main__":
    main()
