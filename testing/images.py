"""Synthetic photographs for tests: deterministic per seed, structured like a real picture
(smooth shading, edges, objects), and far apart in every fingerprint from other seeds."""

import io
from functools import lru_cache
from itertools import count

import numpy as np
from PIL import Image, ImageDraw

# Far above the small seeds that tests name, so that an unused seed is never one of those.
_unused = count(100_000)


def unused_seed() -> int:
    """A seed no earlier call in this process was given: for tests that share a database and
    need a picture nobody has sent yet."""
    return next(_unused)


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A new image each call (callers draw on theirs); made once per seed and size, since tests
    ask for the same few seeds hundreds of times and each takes tens of milliseconds."""
    return _photo(seed, size).copy()


@lru_cache(maxsize=128)
def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    # Smooth colour field: coarse random grid upsampled, like sky, walls and lighting.
    coarse = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    base = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(14):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 10, width // 2), rng.integers(height // 10, height // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        box = (int(x0), int(y0), int(x0 + w), int(y0 + h))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    noise = rng.normal(0, 6, size=(height, width, 3))
    pixels = np.clip(np.asarray(base, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        options.setdefault("quality", 90)
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@lru_cache(maxsize=256)
def jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    return encode(photo(seed, size), "JPEG", quality=quality)
