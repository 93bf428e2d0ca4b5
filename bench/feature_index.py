"""The geometric stage at size: search time per found image and the share of copies still found,
for the exact index and the inverted file, as registered assets grow to 10,000 and more.

The registered set is the benchmark photographs (../shared/bench-images, read in place) and, to
reach each size, random crops and turns of them (each a different set of keypoints, as another
shot of the same scene is); every asset also gets a full set of hash rows (random bits, as an
unrelated picture's are) so that the hash stage is timed at the same size. Queries are copies of
registered photographs cropped to 70% of each side at a random position, turned by up to 20
degrees and re-encoded (the added assets are never made from a queried photograph nor from
another photo of its object, so each copy has one right answer); all random choices come from
the seed.

    .venv/bin/python -m bench.feature_index [--sizes 1000 10000] [--queries 40] [--seeds 1 2]
        [--nprobe 4 16]

One faiss thread (a per-core figure). Prints a markdown table; progress goes to stderr.
"""

import argparse
import io
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import faiss
import numpy as np
from PIL import Image

from bench.objects import objects
from service.detection import feature_index
from service.detection.decode import ImageLimits, decode
from service.detection.features import LocalFeatures, extract
from service.detection.hashes import (
    ALGORITHM_BITS,
    Fingerprint,
    fingerprint_asset,
    fingerprint_sighting,
    local_fingerprint,
)
from service.detection.index import MatchIndex
from service.detection.matching import find_matches
from service.settings import Settings

LIMITS = ImageLimits(max_bytes=200_000_000, max_pixels=200_000_000)
HASH_VARIANTS = 70  # about what fingerprint_asset registers for a photograph


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _photos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _variation(image: Image.Image, rng: random.Random) -> Image.Image:
    w, h = image.size
    keep = rng.uniform(0.5, 0.9)
    cw, ch = int(w * keep), int(h * keep)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return image.crop((x, y, x + cw, y + ch)).rotate(rng.uniform(-30, 30))


def _copy(image: Image.Image, rng: random.Random) -> bytes:
    w, h = image.size
    cw, ch = int(w * 0.7), int(h * 0.7)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    turned = image.crop((x, y, x + cw, y + ch)).rotate(rng.uniform(-20, 20), expand=True)
    return _jpeg(turned, rng.randint(60, 90))


def _random_hashes(rng: np.random.Generator) -> list[Fingerprint]:
    return [
        Fingerprint(algorithm, f"v{v}", rng.integers(0, 256, bits // 8, np.uint8).tobytes())
        for v in range(HASH_VARIANTS)
        for algorithm, bits in ALGORITHM_BITS.items()
    ]


class _Timed(MatchIndex):
    load_seconds = 0.0


def _index(entries: list[tuple[uuid.UUID, Fingerprint]], *, exact: bool, nprobe: int) -> _Timed:
    """A match index over `entries`, its feature index exact or an inverted file probing
    `nprobe` lists (the module's constants are set for the build and put back after)."""
    saved = feature_index.EXACT_MAX_DESCRIPTORS, feature_index.NPROBE
    feature_index.EXACT_MAX_DESCRIPTORS = 10**12 if exact else saved[0]
    feature_index.NPROBE = nprobe or saved[1]
    try:
        index = _Timed()
        started = time.perf_counter()
        index.replace_all(entries)
        index.load_seconds = time.perf_counter() - started
    finally:
        feature_index.EXACT_MAX_DESCRIPTORS, feature_index.NPROBE = saved
    return index


def run(
    root: Path, sizes: list[int], queries: int, seed: int, nprobes: list[int]
) -> list[dict[str, object]]:
    rng = random.Random(seed)
    bits = np.random.default_rng(seed)
    paths = _photos(root)
    pictures = []
    for path in paths:
        picture = Image.open(path).convert("RGB")
        picture.thumbnail((1600, 1600))
        pictures.append(picture)
    print(f"seed {seed}: registering the {len(paths)} photographs", file=sys.stderr)
    real = [
        (uuid.uuid4(), fingerprint_asset(decode(_jpeg(p, 92), LIMITS).pixels)) for p in pictures
    ]
    asked = rng.sample(range(len(real)), min(queries, len(real)))
    # Nor of another photo of a queried photograph's object (bench/objects.py).
    object_of = objects(root)
    shown = [object_of.get(p.relative_to(root).as_posix(), str(p)) for p in paths]
    asked_objects = {shown[i] for i in asked}
    shown_by = {real[i][0]: shown[i] for i in range(len(real))}  # a match of its object is right
    others = [i for i in range(len(real)) if shown[i] not in asked_objects]
    found_prints = []
    for i in asked:
        data = _copy(pictures[i], rng)
        image = decode(data, LIMITS)
        found_prints.append(
            (real[i][0], fingerprint_sighting(image.pixels, image.width, image.height))
        )
    extra: list[tuple[uuid.UUID, list[Fingerprint]]] = []
    rows = []
    policy = Settings().match_policy
    for size in sorted(sizes):
        while len(real) + len(extra) < size:
            # Never of a queried photograph: its copy must have one right answer.
            grey = _variation(pictures[rng.choice(others)], rng).convert("L")
            grey.thumbnail((512, 512))
            local: LocalFeatures = extract(grey)
            extra.append((uuid.uuid4(), [*_random_hashes(bits), local_fingerprint(local)]))
        entries = [(a, fp) for a, prints in (*real, *extra) for fp in prints]
        for kind, nprobe in (("exact", 0), *(("inverted file", n) for n in nprobes)):
            index = _index(entries, exact=kind == "exact", nprobe=nprobe)
            load = index.load_seconds
            # The exact index at 10,000 assets takes seconds a search: a few queries tell it.
            sample = found_prints if kind != "exact" or size <= 2000 else found_prints[:5]
            seconds, hits, wrong = [], 0, 0
            for expected, prints in sample:
                started = time.perf_counter()
                matches = find_matches(index, prints, policy)
                seconds.append(time.perf_counter() - started)
                hits += expected in {m.asset_id for m in matches}
                wrong += sum(shown_by.get(m.asset_id) != shown_by[expected] for m in matches)
            rows.append(
                {
                    "seed": seed,
                    "assets": size,
                    "index": f"{kind}, nprobe {nprobe}" if not index.features.exact else "exact",
                    "descriptors": len(index.features),
                    "load_s": round(load, 1),
                    "median_ms": round(1000 * statistics.median(seconds), 1),
                    "p90_ms": round(1000 * sorted(seconds)[int(0.9 * (len(seconds) - 1))], 1),
                    "found": f"{hits}/{len(sample)}",
                    "other objects": wrong,
                }
            )
            print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/bench-images"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[feature_index.NPROBE])
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rows = [
        row
        for seed in args.seeds
        for row in run(args.images, args.sizes, args.queries, seed, args.nprobe)
    ]
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
