"""Measures the first-version matching rule on real photographs: how often two different photos
fall within each algorithm's threshold (false positives per pair), and whether simple copies
(re-encoded, resized) stay within it. Reads ../shared/bench-images; copies nothing.

    .venv/bin/python -m bench.thresholds [--images ../shared/bench-images]
"""

import argparse
import io
import itertools
import time
from pathlib import Path

import numpy as np
from PIL import Image

from service.fingerprints import ALGORITHM_BITS, compute
from service.imaging import ImageLimits, decode
from service.settings import Settings

LIMITS = ImageLimits(max_bytes=100_000_000, max_pixels=100_000_000)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _prints(data: bytes) -> dict[str, np.ndarray]:
    return {
        f.algorithm: np.unpackbits(np.frombuffer(f.bits, dtype=np.uint8))
        for f in compute(decode(data, LIMITS).pixels)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, default=Path("../shared/bench-images"))
    args = parser.parse_args()
    files = sorted(args.images.glob("*/*.jpg"))
    settings = Settings()
    thresholds = {"pdq": settings.pdq_max_distance, "phash": settings.phash_max_distance}

    started = time.perf_counter()
    originals, copies = [], {"jpeg q30": [], "resize 40%": []}
    for path in files:
        data = path.read_bytes()
        originals.append(_prints(data))
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
        copies["jpeg q30"].append(_prints(_jpeg(rgb, 30)))
        small = rgb.resize((max(1, rgb.width * 2 // 5), max(1, rgb.height * 2 // 5)))
        copies["resize 40%"].append(_prints(_jpeg(small, 85)))
    elapsed = time.perf_counter() - started
    print(f"{len(files)} photographs, fingerprinted 3 ways in {elapsed:.1f} s")

    pairs = list(itertools.combinations(range(len(files)), 2))
    print(f"\n{len(pairs)} pairs of different photographs")
    print(f"{'algorithm':<10}{'threshold':>10}{'min dist':>10}{'pairs <= t':>12}{'FP/pair':>12}")
    any_within = np.zeros(len(pairs), dtype=bool)
    for algorithm in ALGORITHM_BITS:
        matrix = np.stack([o[algorithm] for o in originals])
        a, b = np.array(pairs).T
        distances = (matrix[a] != matrix[b]).sum(axis=1)
        within = distances <= thresholds[algorithm]
        any_within |= within
        print(
            f"{algorithm:<10}{thresholds[algorithm]:>10}{distances.min():>10}"
            f"{within.sum():>12}{within.mean():>12.2e}"
        )
    print(f"{'either':<10}{'':>10}{'':>10}{any_within.sum():>12}{any_within.mean():>12.2e}")

    print(f"\n{'copy':<12}{'recall (either algorithm within threshold)':>44}")
    for name, versions in copies.items():
        hits = [
            any(int((orig[alg] != copy[alg]).sum()) <= thresholds[alg] for alg in ALGORITHM_BITS)
            for orig, copy in zip(originals, versions, strict=True)
        ]
        print(f"{name:<12}{np.mean(hits):>44.3f}")


if __name__ == "__main__":
    main()
