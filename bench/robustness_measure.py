"""One seed's measurement: the asset/distractor split, enrolment, every copy queried in a pool."""

import argparse
import multiprocessing
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.copies import COPIES, SHOWS_HOST, make_copies
from bench.imaging import full_decode
from bench.margin import RuleTable
from bench.measured import PhotoResult, WrongMatch
from bench.methods import LeakSentinel, Method, make_methods
from bench.objects import objects, siblings
from service.settings import Settings

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
# One seed: the split, the enrolment, the queries


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
