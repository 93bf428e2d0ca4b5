"""The robustness benchmark's driver: the asset/distractor split, the worker pool, speed, main.

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
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.copies import COPIES, SHOWS_HOST, make_copies
from bench.local_margin import report_local_margin
from bench.margin import RuleTable
from bench.margin_report import report_estimate, report_margin
from bench.methods import LeakSentinel, Method, make_methods
from bench.objects import objects, siblings
from bench.report import (
    PhotoResult,
    Run,
    WrongMatch,
    example_sheet,
    report_false_leaks,
    report_header,
    report_recall,
    report_speed,
    report_transforms,
)
from bench.seeds import report_seeds
from bench.speed import speed
from bench.transforms import full_decode
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The pool: enrolment of the assets, then one job per photo (all its copies, all methods)


@dataclass(frozen=True)
class Job:
    key: str  # path relative to the image folder, e.g. "owner+repo/stem.jpg"
    path: Path
    host_path: Path  # the unrelated distractor photo for the embed
    registered: bool
    seed: int  # the run's seed, which also seeds every transform's random source
    # The other registered assets that show the same object (bench/objects.py): a match of one
    # of them is neither this photo's own nor a false leak.
    siblings: frozenset[str] = frozenset()
    # The registered assets that show the host photo's object: in the copies that show the host
    # (copies.SHOWS_HOST), matching one of them is not a false leak either.
    host_siblings: frozenset[str] = frozenset()

    def related(self, copy: str) -> frozenset[str]:
        """The assets other than its own that a copy may rightly match."""
        return self.siblings | (self.host_siblings if copy in SHOWS_HOST else frozenset())


@dataclass
class _Worker:
    methods: list[Method]
    probe: LeakSentinel
    rule: RuleTable
    positions: dict[str, int]


_WORKER: _Worker | None = None


def thresholds() -> dict[str, int]:
    """The matching rule's threshold per algorithm, from Settings."""
    return dict(Settings().match_policy.max_distance)


def _enroll(path: Path) -> tuple[dict[str, Any], dict[str, float]]:
    data = path.read_bytes()
    records, seconds = {}, {}
    for method in make_methods(Settings()):
        started = time.perf_counter()
        records[method.name] = method.enroll(data)
        seconds[method.name] = time.perf_counter() - started
    return records, seconds


def _start_worker(enrolled: list[tuple[str, dict[str, Any]]]) -> None:
    global _WORKER
    methods = make_methods(Settings())
    for key, records in enrolled:
        for method in methods:
            method.add(key, records[method.name])
    probe = next(m for m in methods if isinstance(m, LeakSentinel))
    rule = RuleTable([(key, records[probe.name]) for key, records in enrolled], thresholds())
    _WORKER = _Worker(methods, probe, rule, {key: i for i, (key, _) in enumerate(enrolled)})


def _query(
    worker: _Worker, method: Method, job: Job, copy: tuple[str, bytes]
) -> tuple[set[str], list[WrongMatch]]:
    """The assets `method` detects in the copy (name, file), and each wrong one among them."""
    name, data = copy
    if method is worker.probe:
        matches = worker.probe.matches(data)
        found = {asset for asset, _ in matches}
        wrong = [
            WrongMatch(
                method.name,
                job.key,
                name,
                asset,
                m.region,
                m.variant,
                {a: m.distances[a] for a in worker.rule.algorithms if a in m.distances},
                m.score,
            )
            for asset, m in matches
            if asset != job.key and asset not in job.related(name)
        ]
    else:
        found = method.query(data)
        wrong = [
            WrongMatch(method.name, job.key, name, a)
            for a in sorted(found - {job.key} - job.related(name))
        ]
    return found, wrong


def _run_photo(job: Job) -> PhotoResult:
    worker = _WORKER
    assert worker is not None, "_start_worker must run first"
    result = PhotoResult(job.key, job.registered)
    data = job.path.read_bytes()
    started = time.perf_counter()
    copies = make_copies(
        job.seed, job.key, data, full_decode(data), full_decode(job.host_path.read_bytes())
    )
    result.transform_seconds = time.perf_counter() - started
    result.method_seconds = {method.name: 0.0 for method in worker.methods}
    searches_before = len(worker.probe.search_seconds)
    for name, copy in zip(COPIES, copies, strict=True):
        result.found_own[name], result.found_other[name] = {}, {}
        result.found_sibling[name] = {}
        related = job.related(name)
        own = [worker.positions[k] for k in (job.key, *related) if k in worker.positions]
        result.negatives += len(worker.positions) - len(own)
        result.same_object += len(own) - (job.key in worker.positions)
        failed = False
        for method in worker.methods:
            started = time.perf_counter()
            try:
                found, wrong = _query(worker, method, job, (name, copy))
            except Exception as exc:  # a rejected or broken file is a miss, and is reported
                result.errors.append(f"{method.name} on {name}: {type(exc).__name__}: {exc}")
                found, wrong = set(), []
                failed |= method is worker.probe
            result.method_seconds[method.name] += time.perf_counter() - started
            result.found_own[name][method.name] = job.key in found
            result.found_other[name][method.name] = len(found - {job.key} - related)
            result.found_sibling[name][method.name] = len(found & related)
            result.wrong += wrong
        if failed:
            continue
        prints = worker.probe.sight(copy)
        reason = prints.low_information
        result.low_information[name] = str(reason) if reason else None
        result.margins[name] = worker.rule.measure(prints, own)
        result.local_misses[name] = worker.probe.nearest_wrong_local(prints, {job.key, *related})
    result.search_seconds = worker.probe.search_seconds[searches_before:]
    return result


def _pool_map(
    workers: int,
    function: Callable[[Any], Any],
    items: Sequence[Any],
    label: str,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> list[Any]:
    """function over items in `workers` processes (in this one when workers == 1), in order,
    reporting progress to stderr."""
    results: list[Any] = []
    started = time.perf_counter()
    step = max(1, len(items) // 10)

    def progress(done: int) -> None:
        if done % step == 0 or done == len(items):
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (len(items) - done)
            print(
                f"  {label}: {done}/{len(items)}, {elapsed:.0f} s, ~{eta:.0f} s left",
                file=sys.stderr,
            )

    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            results.append(function(item))
            progress(len(results))
        return results
    with multiprocessing.Pool(workers, initializer=initializer, initargs=initargs) as pool:
        for result in pool.imap(function, items):
            results.append(result)
            progress(len(results))
    return results


# ---------------------------------------------------------------------------------------------


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


def split(
    files: Sequence[Path], root: Path, seed: int, limit: int | None
) -> tuple[list[Job], list[str], list[str]]:
    """Sorted paths, shuffled with `seed`, cut to `limit`; the first half registered; each
    photo's host (an unrelated distractor for the embed) also drawn from `seed`."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    if limit is not None:
        order = order[:limit]
    half = len(order) // 2
    keys = {path: path.relative_to(root).as_posix() for path in order}
    assets = sorted(keys[p] for p in order[:half])
    distractors = sorted(keys[p] for p in order[half:])
    by_key = {key: path for path, key in keys.items()}
    same = siblings(sorted(keys.values()), assets, objects(root))
    jobs = []
    for key in sorted(keys.values()):
        hosts = [d for d in distractors if d != key]
        host = random.Random(f"{seed}|host|{key}").choice(hosts)
        registered = key in set(assets)
        jobs.append(Job(key, by_key[key], by_key[host], registered, seed, same[key], same[host]))
    return jobs, assets, distractors


@dataclass(frozen=True)
class Measured:
    """One seed's measurement: its split, enrolment and every query of every photo."""

    seed: int
    jobs: list[Job]
    assets: list[str]
    distractors: list[str]
    enrolled: list[tuple[str, dict[str, Any]]]
    enrol_seconds: dict[str, float]
    results: list[PhotoResult]
    timings: dict[str, float]


def measure(files: Sequence[Path], args: argparse.Namespace, seed: int) -> Measured:
    """The split, the enrolment of the assets and all queries, everything drawn from `seed`."""
    jobs, assets, distractors = split(files, args.images, seed, args.limit)
    asset_jobs = [job for job in jobs if job.registered]
    print(f"seed {seed}: {len(jobs)} photos, {args.workers} workers", file=sys.stderr)
    timings: dict[str, float] = {}
    phase = time.perf_counter()
    enrolments = _pool_map(args.workers, _enroll, [job.path for job in asset_jobs], "enrol")
    enrolled = [
        (job.key, records) for job, (records, _) in zip(asset_jobs, enrolments, strict=True)
    ]
    enrol_seconds = {
        m.name: sum(seconds[m.name] for _, seconds in enrolments) / max(1, len(enrolments))
        for m in make_methods(Settings())
    }
    timings["enrol"] = time.perf_counter() - phase
    phase = time.perf_counter()
    results: list[PhotoResult] = _pool_map(
        args.workers, _run_photo, jobs, "queries", _start_worker, (enrolled,)
    )
    timings["queries"] = time.perf_counter() - phase
    return Measured(seed, jobs, assets, distractors, enrolled, enrol_seconds, results, timings)


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
