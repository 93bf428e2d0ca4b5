"""Issue 18's copies off the service's grids: crops anywhere, rotations, warps, screens, layouts.

Every position, angle and size is drawn from the transform's random source (never from a fixed
grid), so a service cannot be tuned to the benchmark's crop boxes. The docstrings are the
descriptions printed in the report.
"""

import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from bench.imaging import RGB, draw_lines, jpeg_bytes, load_font
from bench.transforms import CAPTIONS, Transform

CROP_JITTER = 0.02  # each side of an "anywhere" crop keeps its share +- this
COLLAGE_WIDTH = 1080
OVERLAY_WORDS = (
    "OMG",
    "leaked",
    "new",
    "2027",
    "wow",
    "real?",
    "first look",
    "soon",
    "mine",
    "LOL",
    "exclusive",
    "fire",
)
EMOJI_COLOURS: tuple[RGB, ...] = (
    (255, 204, 0),
    (255, 59, 48),
    (52, 199, 89),
    (0, 122, 255),
    (255, 149, 0),
    (175, 82, 222),
)


# ---------------------------------------------------------------------------------------------
# Helpers


def perspective_coeffs(
    source: list[tuple[float, float]], target: list[tuple[float, float]]
) -> list[float]:
    """The 8 coefficients of PIL's PERSPECTIVE transform that send each `target` point (in the
    output) back to its `source` point (in the input), by least squares over the 4 pairs."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([u, v, 1, 0, 0, 0, -u * x, -v * x])
        rows.append([0, 0, 0, u, v, 1, -u * y, -v * y])
        values += [x, y]
    solution, *_ = np.linalg.lstsq(np.asarray(rows, float), np.asarray(values, float), rcond=None)
    return [float(c) for c in solution]


def _warp(
    image: Image.Image, rng: random.Random, share: float, background: Image.Image
) -> Image.Image:
    """`image` with each corner moved independently by up to `share` of its side (in x and in y,
    inwards or outwards; outside the canvas is cut off), onto `background` (same size)."""
    width, height = image.size
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    moved = [
        (x + rng.uniform(-share, share) * width, y + rng.uniform(-share, share) * height)
        for x, y in corners
    ]
    coeffs = perspective_coeffs(corners, moved)
    warped = image.convert("RGBA").transform(
        image.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC
    )
    canvas = background.convert("RGBA")
    canvas.alpha_composite(warped)
    return canvas.convert("RGB")


def _grey(rng: random.Random, low: int = 90, high: int = 200) -> RGB:
    level = rng.randint(low, high)
    return (level, level, level)


def _random_colour(rng: random.Random) -> RGB:
    return (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))


def _crop_anywhere(keep: float) -> Transform:
    def crop(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
        width, height = image.size
        keep_w = keep + rng.uniform(-CROP_JITTER, CROP_JITTER)
        keep_h = keep + rng.uniform(-CROP_JITTER, CROP_JITTER)
        crop_w, crop_h = max(1, round(width * keep_w)), max(1, round(height * keep_h))
        left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
        return jpeg_bytes(image.crop((left, top, left + crop_w, top + crop_h)))

    crop.__doc__ = (
        f"Crop keeping {keep:.0%} (+-2%, drawn per side) of the width and of the height, at a "
        "uniformly random position (not on a grid), JPEG q88."
    )
    return crop


# ---------------------------------------------------------------------------------------------
# The transforms


def rotate_large(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Rotated by an angle uniform in 10-20 degrees either way (bicubic, expand=False: same size, the picture's corners cut off and the uncovered corners filled with a random flat grey), JPEG q88."""
    angle = rng.uniform(10.0, 20.0) * rng.choice((-1, 1))
    rotated = image.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=_grey(rng, 0, 255)
    )
    return jpeg_bytes(rotated)


def perspective_15(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Perspective warp (PIL PERSPECTIVE, bicubic) moving each corner independently by up to 15% of the width in x and of the height in y, inwards or outwards (what leaves the canvas is cut off), on a random flat grey or on the unrelated photo fitted to the picture's size, JPEG q88."""
    if rng.random() < 0.5:
        background = Image.new("RGB", image.size, _grey(rng))
    else:
        background = ImageOps.fit(host, image.size, Image.Resampling.LANCZOS)
    return jpeg_bytes(_warp(image, rng, 0.15, background))


def screen_photo(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """A phone photo of a monitor showing the picture: the picture on a dark screen with a bezel (3-7% of the width) and 3-8% margin of dark room, perspective warp of up to 10% per corner, Gaussian blur of radius 0.8-1.5, a faint moiré (sinusoidal interference of random period 3-9 px, angle and amplitude 4-10 levels, times a slow beat), Gaussian noise (sigma 2-5), brightness 0.8-1.15, JPEG q80."""
    width, height = image.size
    bezel = round(width * rng.uniform(0.03, 0.07))
    margin_x = round(width * rng.uniform(0.03, 0.08))
    margin_y = round(height * rng.uniform(0.03, 0.08))
    inner_w = width - 2 * (bezel + margin_x)
    inner_h = max(1, round(image.height * inner_w / width))
    room = _grey(rng, 20, 70)
    canvas = Image.new("RGB", (width, inner_h + 2 * (bezel + margin_y)), room)
    draw = ImageDraw.Draw(canvas)
    shade = rng.randint(8, 30)
    draw.rounded_rectangle(
        (margin_x, margin_y, canvas.width - margin_x, canvas.height - margin_y),
        radius=bezel // 2,
        fill=(shade, shade, shade + 4),
    )
    canvas.paste(
        image.resize((inner_w, inner_h), Image.Resampling.LANCZOS),
        (margin_x + bezel, margin_y + bezel),
    )
    warped = _warp(canvas, rng, 0.10, Image.new("RGB", canvas.size, room))
    warped = warped.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.5)))
    pixels = np.asarray(warped).astype(np.float32)
    ys, xs = np.mgrid[0 : warped.height, 0 : warped.width].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(3.0, 9.0)
    beat = rng.uniform(60.0, 200.0)
    along = xs * math.cos(theta) + ys * math.sin(theta)
    across = -xs * math.sin(theta) + ys * math.cos(theta)
    moire = np.sin(2 * math.pi * along / period) * (0.6 + 0.4 * np.sin(2 * math.pi * across / beat))
    pixels += rng.uniform(4.0, 10.0) * moire[..., None]
    noise = np.random.default_rng(rng.getrandbits(64)).normal(0.0, rng.uniform(2, 5), pixels.shape)
    pixels = (pixels + noise) * rng.uniform(0.8, 1.15)
    shot = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return jpeg_bytes(shot, 80)


def collage_tile(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """One tile, at a random one of the four places, of a 2x2 collage about 1080 px wide (tiles of the picture's shape, a white or black gap of 0-12 px); the other three tiles are the unrelated photo fitted, mirrored, and a random 50-70% crop of it, in random order, JPEG q88."""
    gap = rng.randint(0, 12)
    tile_w = (COLLAGE_WIDTH - 3 * gap) // 2
    tile_h = max(1, round(image.height * tile_w / image.width))
    size = (tile_w, tile_h)
    keep = rng.uniform(0.5, 0.7)
    crop_w, crop_h = round(host.width * keep), round(host.height * keep)
    left, top = rng.randint(0, host.width - crop_w), rng.randint(0, host.height - crop_h)
    others = [
        ImageOps.fit(host, size, Image.Resampling.LANCZOS),
        ImageOps.fit(host.transpose(Image.Transpose.FLIP_LEFT_RIGHT), size),
        ImageOps.fit(host.crop((left, top, left + crop_w, top + crop_h)), size),
    ]
    rng.shuffle(others)
    tiles = others[:]
    tiles.insert(rng.randrange(4), image.resize(size, Image.Resampling.LANCZOS))
    border = rng.choice(((255, 255, 255), (0, 0, 0)))
    canvas = Image.new("RGB", (2 * tile_w + 3 * gap, 2 * tile_h + 3 * gap), border)
    for i, tile in enumerate(tiles):
        canvas.paste(tile, (gap + (i % 2) * (tile_w + gap), gap + (i // 2) * (tile_h + gap)))
    return jpeg_bytes(canvas)


def side_by_side(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """A comparison post: the picture scaled to half its width, left or right at random, next to the unrelated photo fitted to the same size, with a white gap of 0-2% of the width, JPEG q88."""
    gap = round(image.width * rng.uniform(0.0, 0.02))
    half_w = max(1, (image.width - gap) // 2)
    half_h = max(1, round(image.height * half_w / image.width))
    picture = image.resize((half_w, half_h), Image.Resampling.LANCZOS)
    other = ImageOps.fit(host, (half_w, half_h), Image.Resampling.LANCZOS)
    pair = (picture, other) if rng.random() < 0.5 else (other, picture)
    canvas = Image.new("RGB", (2 * half_w + gap, half_h), (255, 255, 255))
    canvas.paste(pair[0], (0, 0))
    canvas.paste(pair[1], (half_w + gap, 0))
    return jpeg_bytes(canvas)


def meme_caption(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """A white band above the picture, 15-25% of its height, with a black one- or two-line caption (classic meme layout), JPEG q88."""
    width, height = image.size
    band = max(16, round(height * rng.uniform(0.15, 0.25)))
    canvas = Image.new("RGB", (width, height + band), (255, 255, 255))
    canvas.paste(image, (0, band))
    box = (width * 0.04, band * 0.08, width * 0.96, band * 0.92)
    draw_lines(ImageDraw.Draw(canvas), box, rng.choice(CAPTIONS), (0, 0, 0))
    return jpeg_bytes(canvas)


def text_emoji_overlay(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """2-5 words (random words, colours, sizes 5-13% of the short side, with an outline) at random places over the picture, and 2-5 filled circles, stars or rounded squares of 6-16% of the short side in emoji colours, some with a face, standing in for emoji, JPEG q88."""
    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    short = min(image.size)
    for _ in range(rng.randint(2, 5)):
        font = load_font(short * rng.uniform(0.05, 0.13))
        text = rng.choice(OVERLAY_WORDS)
        x, y = rng.uniform(0, image.width * 0.8), rng.uniform(0, image.height * 0.9)
        ink = _random_colour(rng)
        outline = (0, 0, 0) if sum(ink) > 380 else (255, 255, 255)
        stroke = max(1, round(font.size / 14)) if hasattr(font, "size") else 1
        draw.text((x, y), text, font=font, fill=ink, stroke_width=stroke, stroke_fill=outline)
    for _ in range(rng.randint(2, 5)):
        radius = short * rng.uniform(0.03, 0.08)
        cx, cy = (
            rng.uniform(radius, image.width - radius),
            rng.uniform(radius, image.height - radius),
        )
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        colour = rng.choice(EMOJI_COLOURS)
        shape = rng.choice(("circle", "star", "square"))
        if shape == "circle":
            draw.ellipse(box, fill=colour)
        elif shape == "square":
            draw.rounded_rectangle(box, radius=radius * 0.3, fill=colour)
        else:
            turn = rng.uniform(0, math.pi)
            points = [
                (
                    cx + radius * (1 if k % 2 == 0 else 0.45) * math.cos(turn + k * math.pi / 5),
                    cy + radius * (1 if k % 2 == 0 else 0.45) * math.sin(turn + k * math.pi / 5),
                )
                for k in range(10)
            ]
            draw.polygon(points, fill=colour)
        if shape == "circle" and rng.random() < 0.6:
            eye = radius * 0.14
            for side in (-1, 1):
                ex, ey = cx + side * radius * 0.35, cy - radius * 0.25
                draw.ellipse((ex - eye, ey - eye, ex + eye, ey + eye), fill=(40, 30, 20))
            mouth = (cx - radius * 0.5, cy - radius * 0.3, cx + radius * 0.5, cy + radius * 0.6)
            draw.arc(mouth, 20, 160, fill=(40, 30, 20), width=max(1, round(radius * 0.1)))
    return jpeg_bytes(canvas)


def pad_square(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Letterboxed or pillarboxed to a square 1.00-1.08 times the picture's long side (so a square picture gets a thin frame), the picture at a random offset, the bars a random flat colour or (half the time) a darkened blurred copy of the picture stretched to the square, JPEG q88."""
    side = round(max(image.size) * rng.uniform(1.0, 1.08))
    if rng.random() < 0.5:
        canvas = Image.new("RGB", (side, side), _random_colour(rng))
    else:
        stretched = image.resize((side, side), Image.Resampling.BILINEAR)
        canvas = stretched.filter(ImageFilter.GaussianBlur(side * rng.uniform(0.02, 0.05)))
        canvas = ImageEnhance.Brightness(canvas).enhance(rng.uniform(0.6, 1.0))
    x = rng.randint(0, side - image.width)
    y = rng.randint(0, side - image.height)
    canvas.paste(image, (x, y))
    return jpeg_bytes(canvas)


# The baselines read it through full_decode (Image.convert("RGB")), which clips 16-bit values to
# white, as imagehash on Image.open would; their recall on it measures that naive read.
def png_16bit(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """Converted to 8-bit grey, scaled x257 to the full 16-bit range, saved as a 16-bit greyscale PNG (mode I;16)."""
    grey = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    wide = Image.frombytes("I;16", image.size, grey.astype("<u2").tobytes())
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    return buffer.getvalue()


GEO_TRANSFORMS: dict[str, Transform] = {
    "crop 85% anywhere": _crop_anywhere(0.85),
    "crop 70% anywhere": _crop_anywhere(0.70),
    "crop 50% anywhere": _crop_anywhere(0.50),
    "rotate 10-20°": rotate_large,
    "perspective 15%": perspective_15,
    "photo of a screen": screen_photo,
    "collage tile": collage_tile,
    "side-by-side": side_by_side,
    "meme caption": meme_caption,
    "text and emoji overlay": text_emoji_overlay,
    "pad to square": pad_square,
    "16-bit PNG": png_16bit,
}

# Issue 18's "done when" recall for LeakSentinel (reported, not asserted).
GEO_TARGETS: dict[str, float] = {
    "crop 85% anywhere": 0.95,
    "crop 70% anywhere": 0.95,
    "crop 50% anywhere": 0.85,
    "rotate 10-20°": 0.9,
    "perspective 15%": 0.9,
    "photo of a screen": 0.9,
    "collage tile": 0.9,
    "side-by-side": 0.9,
    "meme caption": 0.9,
    "text and emoji overlay": 0.9,
    "pad to square": 0.95,
    "16-bit PNG": 0.95,
}
