"""Query latency of the match index at 1e4 to 1e6 rows of random fingerprints, the cost of adding
and removing one asset at that scale, and naive per-row loops measured in the same run.

    .venv/bin/python -m bench.match [--sizes 10000,100000,1000000] [--queries 1000]
        [--variants 80] [--baseline-rows 10000] [--baseline-queries 40] [--churn 200] [--seed 0]
        [--faiss]

Fingerprints are random bits: one asset is `--variants` rows of a random PDQ and a random pHash.
Half the queries are random (they find nothing, as almost every found image does), half are a
stored row with a few bits flipped (they find it), so both the empty and the hit path are timed.
Thresholds are the service's defaults (Settings).
"""

import argparse
import datetime
import functools
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import imagehash
import numpy as np

from service.detection.bitscan import scan
from service.detection.hashes import ALGORITHM_BITS, Fingerprint
from service.detection.index import MatchIndex
from service.settings import Settings

LIMITS = {
    "pdq": int(Settings.model_fields["pdq_max_distance"].default),
    "phash": int(Settings.model_fields["phash_max_distance"].default),
}
NEAR_FLIPS = {"pdq": 20, "phash": 6}  # bits flipped in a near-copy query, well within the limits


@dataclass
class Corpus:
    """Random fingerprints: bits[algorithm] is (rows, bytes) uint8, asset by asset."""

    bits: dict[str, np.ndarray]
    variants: int

    @classmethod
    def random(cls, rows: int, variants: int, rng: np.random.Generator) -> "Corpus":
        rows -= rows % variants
        return cls(
            {
                a: rng.integers(0, 256, (rows, n // 8), dtype=np.uint8)
                for a, n in ALGORITHM_BITS.items()
            },
            variants,
        )

    @property
    def rows(self) -> int:
        return len(self.bits["pdq"])

    def asset(self, number: int) -> list[Fingerprint]:
        first = number * self.variants
        return [
            Fingerprint(algorithm, f"v{row - first}", bits[row].tobytes())
            for row in range(first, first + self.variants)
            for algorithm, bits in self.bits.items()
        ]


def queries(corpus: Corpus, count: int, rng: np.random.Generator) -> list[dict[str, bytes]]:
    out = []
    for i in range(count):
        if i % 2:
            out.append({a: rng.bytes(n // 8) for a, n in ALGORITHM_BITS.items()})
            continue
        row = int(rng.integers(corpus.rows))
        query = {}
        for algorithm, bits in corpus.bits.items():
            value = np.unpackbits(bits[row])
            value[rng.choice(value.size, NEAR_FLIPS[algorithm], replace=False)] ^= 1
            query[algorithm] = np.packbits(value).tobytes()
        out.append(query)
    return out


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    """Seconds per call, after two untimed calls."""
    run(), run()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.1 else f"{seconds * 1e3:,.0f}"


class Cycle:
    """Calls `search` with the next query each time, so repeated timings do not reuse one query."""

    def __init__(
        self, items: Sequence[dict[str, bytes]], search: Callable[[dict[str, bytes]], object]
    ):
        self.items, self.search, self.next = items, search, 0

    def __call__(self) -> object:
        item = self.items[self.next % len(self.items)]
        self.next += 1
        return self.search(item)


def naive_searches(corpus: Corpus, rows: int) -> dict[str, Callable[[dict[str, bytes]], object]]:
    """What a first implementation would do: one Python comparison per row."""
    ints = {
        a: [int.from_bytes(b.tobytes(), "big") for b in bits[:rows]]
        for a, bits in corpus.bits.items()
    }
    pdq, phash = ints["pdq"], ints["phash"]
    hashes = {
        a: [imagehash.ImageHash(np.unpackbits(b).astype(bool).reshape(-1, 8)) for b in bits[:rows]]
        for a, bits in corpus.bits.items()
    }

    def one(algorithm: str) -> Callable[[dict[str, bytes]], object]:
        def search(query: dict[str, bytes]) -> object:
            q, limit = int.from_bytes(query[algorithm], "big"), LIMITS[algorithm]
            return [i for i, v in enumerate(ints[algorithm]) if (v ^ q).bit_count() <= limit]

        return search

    def both(query: dict[str, bytes]) -> object:
        qp, qd = int.from_bytes(query["phash"], "big"), int.from_bytes(query["pdq"], "big")
        lp, ld = LIMITS["phash"], LIMITS["pdq"]
        return [
            i
            for i in range(rows)
            if (phash[i] ^ qp).bit_count() <= lp and (pdq[i] ^ qd).bit_count() <= ld
        ]

    def imagehash_both(query: dict[str, bytes]) -> object:
        qp, qd = (
            imagehash.ImageHash(
                np.unpackbits(np.frombuffer(query[a], np.uint8)).astype(bool).reshape(-1, 8)
            )
            for a in ("phash", "pdq")
        )
        lp, ld = LIMITS["phash"], LIMITS["pdq"]
        return [
            i for i in range(rows) if hashes["phash"][i] - qp <= lp and hashes["pdq"][i] - qd <= ld
        ]

    return {"phash": one("phash"), "pdq": one("pdq"), "both": both, "imagehash": imagehash_both}


def one_algorithm(index: MatchIndex, algorithm: str) -> Callable[[dict[str, bytes]], object]:
    """The exact scan MatchIndex.search starts with, on one algorithm's rows alone."""

    def search(query: dict[str, bytes]) -> object:
        table = index._table
        words = np.frombuffer(query[algorithm], dtype=np.uint64)
        return scan(table.bits[algorithm][:, : table.size], words, LIMITS[algorithm])

    return search


def faiss_search(corpus: Corpus, rows: int, algorithm: str) -> Callable[[dict[str, bytes]], object]:
    import faiss  # type: ignore[import-not-found]  # optional: only for --faiss

    flat = faiss.IndexBinaryFlat(ALGORITHM_BITS[algorithm])
    flat.add(np.ascontiguousarray(corpus.bits[algorithm][:rows]))
    radius = LIMITS[algorithm] + 1  # faiss keeps distances strictly below the radius

    def search(query: dict[str, bytes]) -> object:
        return flat.range_search(np.frombuffer(query[algorithm], np.uint8)[None, :], radius)

    return search


def build(corpus: Corpus) -> tuple[MatchIndex, list[float]]:
    """The index built the way a running service grows it: one put per asset."""
    index, seconds = MatchIndex(), []
    for number in range(corpus.rows // corpus.variants):
        prints = corpus.asset(number)
        start = time.perf_counter()
        index.put(uuid.UUID(int=number), prints)
        seconds.append(time.perf_counter() - start)
    assert len(index) == corpus.rows
    return index, seconds


def churn(
    index: MatchIndex, corpus: Corpus, count: int, rng: np.random.Generator
) -> dict[str, list[float]]:
    """Timed puts of new assets, then timed removes of random existing ones, then removes until
    one of them compacts the index (the worst single remove)."""
    assets = corpus.rows // corpus.variants
    spare = Corpus.random(count * corpus.variants, corpus.variants, rng)
    out: dict[str, list[float]] = {"put": [], "remove": [], "compacting remove": []}
    for number in range(count):
        prints = spare.asset(number)
        start = time.perf_counter()
        index.put(uuid.UUID(int=assets + number), prints)
        out["put"].append(time.perf_counter() - start)
    order = [int(i) for i in rng.permutation(assets)]
    for number in order[:count]:
        start = time.perf_counter()
        index.remove(uuid.UUID(int=number))
        out["remove"].append(time.perf_counter() - start)
    for number in order[count:]:
        arrays = index._table.died
        start = time.perf_counter()
        index.remove(uuid.UUID(int=number))
        took = time.perf_counter() - start
        if index._table.died is not arrays:
            out["compacting remove"].append(took)
            out["removes until compaction"] = [float(order.index(number) + 1)]
            break
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}, python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="index rows, comma-separated"
    )
    parser.add_argument(
        "--queries", type=int, default=1000, help="timed queries per size and search"
    )
    parser.add_argument("--variants", type=int, default=80, help="rows per asset")
    parser.add_argument("--baseline-rows", type=int, default=10000)
    parser.add_argument("--baseline-queries", type=int, default=40)
    parser.add_argument(
        "--churn", type=int, default=200, help="timed puts and removes at the largest size"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--faiss", action="store_true", help="also time faiss IndexBinaryFlat range search"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    print(f"Machine: {machine()}.  ")
    print(
        f"Run: {datetime.date.today().isoformat()}, `{' '.join(['python -m bench.match', *sys.argv[1:]])}`.  "
    )
    print(
        f"Thresholds: pdq {LIMITS['pdq']}, phash {LIMITS['phash']}; {args.variants} rows per asset; "
        f"{args.queries} queries per cell, half random, half a stored row with "
        f"{NEAR_FLIPS['pdq']} PDQ and {NEAR_FLIPS['phash']} pHash bits flipped.\n"
    )

    base = Corpus.random(args.baseline_rows, args.variants, rng)
    naive = naive_searches(base, base.rows)
    base_queries = queries(base, args.baseline_queries, rng)
    per_row = {
        name: statistics.median(timed(Cycle(base_queries, search), args.baseline_queries))
        / base.rows
        for name, search in naive.items()
    }

    rows_out = []
    churned: dict[str, list[float]] = {}
    builds: dict[int, list[float]] = {}
    for size in sizes:
        corpus = Corpus.random(size, args.variants, rng)
        index, builds[size] = build(corpus)
        qs = queries(corpus, args.queries, rng)
        modes: list[tuple[str, Callable[[dict[str, bytes]], object], str]] = [
            ("pHash only (64 bit)", one_algorithm(index, "phash"), "phash"),
            ("PDQ only (256 bit)", one_algorithm(index, "pdq"), "pdq"),
            (
                "MatchIndex.search (pHash, then PDQ)",
                functools.partial(index.search, max_distance=LIMITS),
                "both",
            ),
        ]
        if args.faiss:
            modes += [
                ("faiss IndexBinaryFlat, pHash only", faiss_search(corpus, size, "phash"), "phash"),
                ("faiss IndexBinaryFlat, PDQ only", faiss_search(corpus, size, "pdq"), "pdq"),
            ]
        for name, search, baseline in modes:
            samples = timed(Cycle(qs, search), args.queries)
            p50 = percentile(samples, 0.5)
            naive_ms = per_row[baseline] * corpus.rows
            rows_out.append(
                f"| {corpus.rows:,} | {name} | {ms(p50)} | {ms(percentile(samples, 0.99))} | "
                f"{ms(naive_ms)} | {naive_ms / p50:,.0f}x |"
            )
            if baseline == "both":
                imagehash_ms = per_row["imagehash"] * corpus.rows
                rows_out.append(
                    f"| {corpus.rows:,} | (same, against imagehash `ImageHash.__sub__` per row) | "
                    f"| | {ms(imagehash_ms)} | {imagehash_ms / p50:,.0f}x |"
                )
        if size == max(sizes):
            churned = churn(index, corpus, args.churn, rng)

    print("### Query latency\n")
    print(
        f"Baseline: a Python loop over the rows (`int.bit_count` of the XOR; for the full search "
        f"pHash then PDQ per row), timed on {base.rows:,} rows over {args.baseline_queries} "
        "queries and scaled linearly to each size; speed-up = baseline / p50.\n"
    )
    print("| rows | search | p50 ms | p99 ms | naive loop ms (extrapolated) | speed-up |")
    print("|---:|---|---:|---:|---:|---:|")
    print("\n".join(rows_out))

    big = max(sizes)
    grown = builds[big]
    print(f"\n### Changes at {big:,} rows ({args.variants} rows per asset)\n")
    print("| change | count | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| put of a new asset while building to {big:,} rows (max includes the array doublings) | "
        f"{len(grown):,} | {ms(percentile(grown, 0.5))} | {ms(percentile(grown, 0.99))} | {ms(max(grown))} |"
    )
    for name in ("put", "remove", "compacting remove"):
        samples = churned.get(name, [])
        if samples:
            print(
                f"| {name} of one asset | {len(samples)} | {ms(percentile(samples, 0.5))} | "
                f"{ms(percentile(samples, 0.99))} | {ms(max(samples))} |"
            )
    if "removes until compaction" in churned:
        print(
            f"\nThe compacting remove came after {int(churned['removes until compaction'][0]):,} "
            "removes (dead rows above a quarter of the live ones)."
        )
    print(
        f"\nBuild total at {big:,} rows: {sum(grown):.1f} s of puts. Wall time {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
