"""The copies a leaked photo arrives as: issue 3's transforms and recall targets.

Each transform is a pure, deterministic function of the picture, its random source (seeded from
the run's --seed, the file name and the transform name) and an unrelated distractor photo, and returns the encoded file a crawler would
fetch. Their docstrings are the descriptions printed in the report; change a transform's bytes
and every number measured before stops being comparable.
"""

import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from bench.imaging import crop_keeping, draw_lines, jpeg_bytes, load_font, scaled
from bench.transforms_screenshot import screenshot_frame

ORIGINAL = "original"

# (picture, random source seeded from the run's seed and the file and transform names, an
# unrelated distractor photo)
Transform = Callable[[Image.Image, random.Random, Image.Image], bytes]


# ---------------------------------------------------------------------------------------------
# The transforms: each (picture, rng, unrelated photo) -> the encoded file a crawler would fetch


def jpeg_q30(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Re-encoded as JPEG quality 30."""
    return jpeg_bytes(image, 30)


def jpeg_q10(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Re-encoded as JPEG quality 10 (heavy blocking)."""
    return jpeg_bytes(image, 10)


def resize_40(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Both sides scaled to 40% (Lanczos), JPEG q88."""
    return jpeg_bytes(scaled(image, 0.4))


def thumbnail_300(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Scaled so that the long side is 300 px (Lanczos), JPEG q88."""
    return jpeg_bytes(scaled(image, 300 / max(image.size)))


def _centred_crop(keep: float) -> Transform:
    def crop(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
        return jpeg_bytes(crop_keeping(image, keep, (0.5, 0.5)))

    crop.__doc__ = f"Centred crop keeping {keep:.0%} of each side, JPEG q88."
    return crop


def _corner_crop(keep: float) -> Transform:
    def crop(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
        anchor = rng.choice(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)))
        return jpeg_bytes(crop_keeping(image, keep, anchor))

    crop.__doc__ = (
        f"Off-centre crop keeping {keep:.0%} of each side, anchored at a random corner, JPEG q88."
    )
    return crop


def flip(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Mirrored left to right, JPEG q88."""
    return jpeg_bytes(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def rotate_90(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Turned a quarter, clockwise or anticlockwise at random, JPEG q88."""
    turn = rng.choice((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270))
    return jpeg_bytes(image.transpose(turn))


def rotate_small(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Rotated 3-5 degrees either way (bicubic), cropped to the largest centred rectangle of the same shape inside the rotated picture (no fill corners; keeps ~88-93% of each side), JPEG q88."""
    angle = rng.uniform(3.0, 5.0) * rng.choice((-1, 1))
    rotated = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    width, height = image.size
    cos, sin = math.cos(math.radians(abs(angle))), math.sin(math.radians(abs(angle)))
    # A centred w*s x h*s rectangle lies inside the rotated picture iff its bounding box, rotated
    # back, fits into w x h.
    keep = min(width / (width * cos + height * sin), height / (width * sin + height * cos))
    return jpeg_bytes(crop_keeping(rotated, keep, (0.5, 0.5)))


def colour_shift(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Hue turned 12-24 degrees either way, saturation scaled by 0.6-0.75 or 1.3-1.5, JPEG q88."""
    hsv = np.asarray(image.convert("HSV")).astype(np.int32)
    turn = round(rng.uniform(12, 24) * rng.choice((-1, 1)) * 256 / 360)
    saturation = rng.choice((rng.uniform(0.6, 0.75), rng.uniform(1.3, 1.5)))
    hsv[..., 0] = (hsv[..., 0] + turn) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    shifted = Image.frombytes("HSV", image.size, hsv.astype(np.uint8).tobytes())
    return jpeg_bytes(shifted.convert("RGB"))


def contrast_brightness(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Contrast scaled by 0.7-0.8 or 1.25-1.4 and brightness by 0.8-0.9 or 1.1-1.2 (ImageEnhance), JPEG q88."""
    contrast = rng.choice((rng.uniform(0.7, 0.8), rng.uniform(1.25, 1.4)))
    brightness = rng.choice((rng.uniform(0.8, 0.9), rng.uniform(1.1, 1.2)))
    changed = ImageEnhance.Contrast(image).enhance(contrast)
    return jpeg_bytes(ImageEnhance.Brightness(changed).enhance(brightness))


def blur(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Gaussian blur of radius 2 px per 1000 px of the long side, JPEG q88."""
    radius = 2.0 * max(image.size) / 1000
    return jpeg_bytes(image.filter(ImageFilter.GaussianBlur(radius)))


def grayscale(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Converted to 8-bit grayscale, saved as a one-channel JPEG q88."""
    return jpeg_bytes(image.convert("L"))


CAPTIONS = (
    "When you find the new model a month before launch",
    "BREAKING: first look at the unreleased flagship",
    "Leaked: is this what they announce next week?",
    "Spotted at the factory this morning",
    "nobody: me: posting this before the embargo",
    "EXCLUSIVE: the product they did not want you to see",
)


def caption_bar(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """A white or black band 15-20% of the picture's height with a one- or two-line caption (meme / news style), added above or below, JPEG q88."""
    width, height = image.size
    band = max(16, round(height * rng.uniform(0.15, 0.20)))
    background, ink = rng.choice((((255, 255, 255), (0, 0, 0)), ((0, 0, 0), (255, 255, 255))))
    above = rng.random() < 0.5
    canvas = Image.new("RGB", (width, height + band), background)
    canvas.paste(image, (0, band if above else 0))
    top = 0 if above else height
    box = (width * 0.04, top + band * 0.1, width * 0.96, top + band * 0.9)
    draw_lines(ImageDraw.Draw(canvas), box, rng.choice(CAPTIONS), ink)
    return jpeg_bytes(canvas)


def embed_40(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Scaled to 40% of each side and pasted at a random position into an unrelated distractor photo (that photo cropped and scaled to the picture's size), JPEG q88."""
    canvas = ImageOps.fit(host, image.size, Image.Resampling.LANCZOS)
    small = scaled(image, 0.4)
    x = rng.randint(0, image.width - small.width)
    y = rng.randint(0, image.height - small.height)
    canvas.paste(small, (x, y))
    return jpeg_bytes(canvas)


WATERMARKS = ("CONFIDENTIAL", "© PressShots Agency", "PREVIEW - DO NOT SHARE", "SAMPLE")


def watermark(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Semi-transparent (35-50% opaque) white or black text: one large line along the diagonal, or smaller lines tiled at a 20-35 degree slant over the whole picture, JPEG q88."""
    width, height = image.size
    ink = (*rng.choice(((255, 255, 255), (0, 0, 0))), rng.randint(90, 128))
    text = rng.choice(WATERMARKS)
    # The text is set level on a transparent square as wide as the diagonal, which is turned
    # about its centre and cut to the picture, so no line ends short of the picture's edges.
    side = math.ceil(math.hypot(width, height))
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if rng.random() < 0.5:
        # As long as 3/4 of the diagonal, but never taller than a fifth of the short side.
        font = load_font(min(75 * side / load_font(100).getlength(text), 0.2 * min(width, height)))
        draw.text((side / 2, side / 2), text, font=font, fill=ink, anchor="mm")
        angle = math.degrees(math.atan2(height, width)) * rng.choice((-1, 1))
    else:
        size = max(10, min(width, height) / 14)
        font = load_font(size)
        step_x, step_y = font.getlength(text) + 2 * size, 3.2 * size
        for row in range(math.ceil(side / step_y) + 1):
            offset = (row % 2) * step_x / 2
            for col in range(-1, math.ceil(side / step_x) + 1):
                draw.text((col * step_x + offset, row * step_y), text, font=font, fill=ink)
        angle = rng.uniform(20, 35) * rng.choice((-1, 1))
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, top = (side - width) // 2, (side - height) // 2
    layer = layer.crop((left, top, left + width, top + height))
    marked = Image.alpha_composite(image.convert("RGBA"), layer)
    return jpeg_bytes(marked.convert("RGB"))


TRANSFORMS: dict[str, Transform] = {
    "jpeg q30": jpeg_q30,
    "jpeg q10": jpeg_q10,
    "resize 40%": resize_40,
    "thumbnail 300 px": thumbnail_300,
    "crop 90% centred": _centred_crop(0.90),
    "crop 85% centred": _centred_crop(0.85),
    "crop 70% centred": _centred_crop(0.70),
    "crop 90% corner": _corner_crop(0.90),
    "crop 85% corner": _corner_crop(0.85),
    "crop 70% corner": _corner_crop(0.70),
    "flip": flip,
    "rotate 90": rotate_90,
    "rotate 3-5°": rotate_small,
    "colour shift": colour_shift,
    "contrast/brightness": contrast_brightness,
    "blur": blur,
    "grayscale": grayscale,
    "caption bar": caption_bar,
    "screenshot frame": screenshot_frame,
    "embed 40% in photo": embed_40,
    "watermark": watermark,
}

# Issue 3's "done when" recall for LeakSentinel; it must also beat or equal both baselines.
TARGETS: dict[str, float] = {
    "jpeg q30": 1.0,
    "resize 40%": 1.0,
    "thumbnail 300 px": 1.0,
    "flip": 1.0,
    "rotate 90": 1.0,
    "colour shift": 1.0,
    "contrast/brightness": 1.0,
    "blur": 1.0,
    "grayscale": 0.95,
    "caption bar": 0.95,
    "watermark": 0.95,
    "crop 85% centred": 0.95,
    "crop 85% corner": 0.95,
    "crop 70% centred": 0.8,
    "crop 70% corner": 0.8,
    "screenshot frame": 0.8,
    "rotate 3-5°": 0.8,
    "embed 40% in photo": 0.5,
}


def transform_rng(seed: int, file_key: str, transform: str) -> random.Random:
    """The random source of one transform of one photo in the run of `seed`: seeded from the
    run's seed and both names, so a rerun with the same seed (in any process, in any order)
    makes byte-identical copies, and another seed draws other positions, angles and sizes."""
    return random.Random(f"{seed}|{file_key}|{transform}")


def describe(transform: Transform) -> str:
    """A transform's docstring on one line: how its copy is made."""
    return " ".join((transform.__doc__ or "").split())
