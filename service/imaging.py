"""Decoding untrusted image bytes once, within byte, pixel and format limits."""

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import ImageRejected

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

# Every fingerprint works on a small thumbnail (pHash 32x32, PDQ 64x64), so JPEGs are decoded at
# a reduced DCT scale no smaller than DRAFT_SIDE, and anything larger is cut to WORKING_SIDE.
DRAFT_SIDE = 256
WORKING_SIDE = 512


@dataclass(frozen=True)
class DecodedImage:
    pixels: Image.Image  # RGB, EXIF orientation applied, at most WORKING_SIDE on its long side
    sha256: str
    media_type: str
    width: int  # of the original image
    height: int
    byte_size: int


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


def decode(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decodes `data` or raises ImageRejected; never decodes pixels before the checks pass."""
    if not data:
        raise ImageRejected("empty", "the uploaded file is empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "too_large", f"the file has {len(data)} bytes; the limit is {limits.max_bytes}"
        )
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
            image.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
            oriented = ImageOps.exif_transpose(image) or image
            pixels = oriented.convert("RGB")
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "unsupported_format", "the file is not a JPEG, PNG, WebP or GIF image"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
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
