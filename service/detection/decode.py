"""Decoding untrusted image bytes once, within byte, pixel and format limits."""

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.detection.errors import ImageRejected

# Pillow only warns about an image between one and two times its own pixel cap, and does so in
# Image.open, before our own check can run. In this process that warning is a refusal.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

# Every fingerprint works on a 64x64 square of the whole image or of a region of it (down to a
# quarter of each side), and local features need corners a few pixels apart, so JPEGs are decoded
# at the smallest DCT scale that keeps the short side at DRAFT_SIDE or more and the long side at
# FEATURE_SIDE or more (1/4 for 1080p), and anything larger is cut to WORKING_SIDE.
DRAFT_SIDE = 128
FEATURE_SIDE = 384
WORKING_SIDE = 512
ORIENTATION = 0x0112  # the EXIF tag a phone sets instead of rotating the pixels
OUT_OF_MEMORY_DETAIL = "decoding the image needed more memory than one decode may use"

# An image's bytes, or the incoming file an upload was received into (storage.blobs), which the
# decode worker reads itself rather than have them copied to it through a pipe.
ImageData = bytes | Path


@dataclass(frozen=True)
class DecodedImage:
    pixels: (
        Image.Image
    )  # grey ("L"), EXIF orientation applied, at most WORKING_SIDE on its long side
    sha256: str
    media_type: str
    width: int  # of the original image
    height: int
    byte_size: int


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


def _check_size(size: int, limits: ImageLimits) -> None:
    if not size:
        raise ImageRejected("empty", "the uploaded file is empty")
    if size > limits.max_bytes:
        raise ImageRejected(
            "too_large", f"the file has {size} bytes; the limit is {limits.max_bytes}"
        )


# Modes whose samples are wider than a byte. Pillow's own conversion to "L" clips them at 255, so
# a 16-bit greyscale PNG (values up to 65535) would become a white picture.
WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _narrowed(image: Image.Image) -> Image.Image:
    """A wide-sample image as 8-bit grey with its tones kept: 16-bit containers scaled by 1/257
    (65535 -> 255); 32-bit integers and floats by their own range (floats in 0-1 by 255)."""
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        values /= 257
    else:
        top = float(values.max(initial=0.0))
        if image.mode == "F" and top <= 1.0:
            values *= 255
        elif top > 65535:
            values *= 255 / top
        elif top > 255:
            values /= 257
    return Image.fromarray(np.clip(values.round(), 0, 255).astype(np.uint8), "L")


def on_white(image: Image.Image, mode: str) -> Image.Image:
    """`image` in `mode`, with transparency composited onto white as a browser would show it."""
    if image.mode in WIDE_MODES:
        return _narrowed(image).convert(mode)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert(mode)
    return image.convert(mode)


def read(data: ImageData, limits: ImageLimits) -> bytes:
    """An image's bytes; from its incoming file, refused by size before any of it is read."""
    if isinstance(data, bytes):
        return data
    _check_size(data.stat().st_size, limits)
    return data.read_bytes()


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask a JPEG's DCT scaling for: it picks the strongest reduction that stays at
    or above this size on both sides."""
    scale = min(
        1.0, max(FEATURE_SIDE / max(width, height), DRAFT_SIDE / max(1, min(width, height)))
    )
    return math.ceil(width * scale), math.ceil(height * scale)


def decode(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decodes `data` or raises ImageRejected; never decodes pixels before the checks pass."""
    _check_size(len(data), limits)
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image_format = image.format or ""
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageRejected(
                    "too_many_pixels",
                    f"the image is {width}x{height} pixels; the limit is "
                    f"{limits.max_pixels} pixels",
                )
            # Both hashes see only luma, so a JPEG's colour planes are never even decoded.
            image.draft("L", _draft_size(width, height))
            # The file is in memory already: handed over in one piece rather than in 64 KiB
            # reads, libjpeg's Huffman decoder (most of the time here) stays on its fast path,
            # which it leaves whenever less than a few KiB of input remain in its buffer.
            image.decodermaxblock = max(image.decodermaxblock, len(data))
            oriented: Image.Image = image
            if image.getexif().get(ORIENTATION, 1) != 1:
                oriented = ImageOps.exif_transpose(image) or image
            pixels = on_white(oriented, "L")
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "unsupported_format", "the file is not a JPEG, PNG, WebP or GIF image"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from exc
    except MemoryError as exc:
        raise ImageRejected("decode_memory", OUT_OF_MEMORY_DETAIL) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", f"the image could not be decoded: {exc}") from exc
    pixels.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BILINEAR)
    return DecodedImage(
        pixels=pixels,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=MEDIA_TYPES[image_format],
        width=width,
        height=height,
        byte_size=len(data),
    )
