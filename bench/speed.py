"""The robustness benchmark's speed section: per-image pipeline times on 1080p JPEGs, and search.

Each pipeline (the baseline pHash on a full decode, LeakSentinel's sighting and asset
fingerprinting, PDQ, the decode step alone, the SHA-256 within it) is timed on the largest bench
photos fitted to 1080p, interleaved, in one process; and find_matches against every asset.
"""

import functools
import hashlib
import io
import statistics
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

from bench.imaging import full_decode, jpeg_bytes
from bench.methods import LeakSentinel, sighting_prints
from service.detection.decode import decode
from service.detection.hashes import fingerprint_asset
from service.settings import Settings

SPEED_IMAGES = 6  # the largest bench photos, by pixel area
SPEED_FRAME = (1920, 1080)
SPEED_QUALITY = 90

BASELINE_SPEED = "baseline imagehash.phash(Image.open(...)), full decode"
SIGHTING_SPEED = "LeakSentinel sighting (decode + fingerprint_sighting)"
ASSET_SPEED = "LeakSentinel asset (decode + fingerprint_asset)"
PDQ_SPEED = "baseline pdqhash.compute on the full decode"
# Where the sighting pipeline's time goes: its decode step alone, and the SHA-256 of the evidence
# file that decode also computes (the service stores the file under it).
DECODE_SPEED = "LeakSentinel decode alone (1/8-scale grey JPEG decode and the file's SHA-256)"
SHA_SPEED = "SHA-256 of the file alone (hashlib; part of the decode step)"
Key = TypeVar("Key", bound=Hashable)


def _pipelines(data: bytes) -> dict[str, Callable[[], object]]:
    limits = Settings().image_limits
    return {
        BASELINE_SPEED: lambda: imagehash.phash(Image.open(io.BytesIO(data))),
        SIGHTING_SPEED: lambda: sighting_prints(decode(data, limits)),
        ASSET_SPEED: lambda: fingerprint_asset(decode(data, limits).pixels),
        PDQ_SPEED: lambda: pdqhash.compute(np.asarray(full_decode(data))),
        DECODE_SPEED: lambda: decode(data, limits),
        SHA_SPEED: lambda: hashlib.sha256(data).hexdigest(),
    }


def _interleaved_medians(actions: dict[Key, Callable[[], object]], loops: int) -> dict[Key, float]:
    """The median seconds of each action over `loops` rounds (after two warm-up rounds), the
    actions taking turns within each round, so that changes in the machine's load hit them alike."""
    times: dict[Key, list[float]] = {key: [] for key in actions}
    for round_ in range(loops + 2):
        for key, action in actions.items():
            started = time.perf_counter()
            action()
            if round_ >= 2:
                times[key].append(time.perf_counter() - started)
    return {key: statistics.median(seconds) for key, seconds in times.items()}


def speed(
    files: Sequence[Path], enrolled: list[tuple[str, dict[str, Any]]], loops: int
) -> dict[str, Any]:
    """Per pipeline, the time per image on 1080p JPEGs of the largest photos, one process; and
    find_matches of each image's sighting against every asset."""
    sources = sorted(files, key=lambda p: (_area(p), str(p)), reverse=True)[:SPEED_IMAGES]
    frames: list[tuple[Path, str, bytes]] = []
    for source in sources:
        with Image.open(source) as image:
            size = f"{image.width}x{image.height}"
            frame = ImageOps.fit(image.convert("RGB"), SPEED_FRAME, Image.Resampling.LANCZOS)
        frames.append((source, size, jpeg_bytes(frame, SPEED_QUALITY)))
    medians = _interleaved_medians(
        {
            (i, name): action
            for i, (_, _, data) in enumerate(frames)
            for name, action in _pipelines(data).items()
        },
        loops,
    )
    leak_sentinel = LeakSentinel(Settings())
    for key, records in enrolled:
        leak_sentinel.add(key, records[leak_sentinel.name])
    limits = Settings().image_limits
    prints = [sighting_prints(decode(data, limits)) for _, _, data in frames]
    searches = _interleaved_medians(
        {i: functools.partial(leak_sentinel.search, p) for i, p in enumerate(prints)}, loops
    )
    names = list(_pipelines(frames[0][2]))
    images: list[dict[str, Any]] = [
        {
            "image": f"{source.parent.name}/{source.name}",
            "source_size": size,
            "bytes": len(data),
            "ms": {name: medians[(i, name)] * 1000 for name in names},
            "sighting_fingerprints": len(prints[i].fingerprints),
            "search_ms": searches[i] * 1000,
        }
        for i, (source, size, data) in enumerate(frames)
    ]
    baseline = [image["ms"][BASELINE_SPEED] for image in images]
    pipelines = {}
    for name in names:
        ms = [image["ms"][name] for image in images]
        pipelines[name] = {
            "images_per_second": len(ms) / sum(ms) * 1000,
            "mean_ms": sum(ms) / len(ms),
            "aggregate_ratio": sum(baseline) / sum(ms),
            "median_ratio": statistics.median(b / m for b, m in zip(baseline, ms, strict=True)),
        }
    return {
        "frame": f"fitted to {SPEED_FRAME[0]}x{SPEED_FRAME[1]} (ImageOps.fit, Lanczos) and saved "
        f"as JPEG q{SPEED_QUALITY}",
        "loops": loops,
        "baseline": BASELINE_SPEED,
        "sighting": SIGHTING_SPEED,
        "short": {
            BASELINE_SPEED: "baseline pHash",
            SIGHTING_SPEED: "LeakSentinel sighting",
            ASSET_SPEED: "LeakSentinel asset",
            PDQ_SPEED: "baseline PDQ",
            DECODE_SPEED: "LeakSentinel decode",
            SHA_SPEED: "SHA-256",
        },
        "images": images,
        "pipelines": pipelines,
        "search_ms": statistics.median(searches.values()) * 1000,
        "index_assets": len(enrolled),
        "index_fingerprints": leak_sentinel.fingerprint_count,
    }


def _area(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height
