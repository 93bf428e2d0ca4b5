"""Every image mode a crawler may send decodes to the tones a viewer sees, so a copy of an asset
saved in that mode still matches it."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image

from service.detection.decode import ImageLimits, decode
from service.detection.hashes import fingerprint_asset, fingerprint_sighting
from service.detection.index import MatchIndex
from service.detection.matching import MatchPolicy, find_matches
from testing.images import encode

LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=10_000_000)
POLICY = MatchPolicy({"pdq": 64, "phash": 18})
SHIPPED = "tests/data/asset.jpg"


def _asset_rgb() -> Image.Image:
    with Image.open(SHIPPED) as image:
        return image.convert("RGB")


def _matches(copy: bytes) -> bool:
    index = MatchIndex()
    with open(SHIPPED, "rb") as handle:
        asset_id = uuid.uuid4()
        index.put(asset_id, fingerprint_asset(decode(handle.read(), LIMITS).pixels))
    decoded = decode(copy, LIMITS)
    prints = fingerprint_sighting(decoded.pixels, decoded.width, decoded.height)
    return [m.asset_id for m in find_matches(index, prints, POLICY)] == [asset_id]


def _saved(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _sixteen_bit(image: Image.Image) -> Image.Image:
    grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
    return Image.fromarray(grey)


COPIES = {
    "16-bit greyscale PNG": lambda im: _saved(_sixteen_bit(im), "PNG"),
    "palette PNG": lambda im: _saved(im.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    "palette PNG with transparency": lambda im: _saved(
        im.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0
    ),
    "LA PNG": lambda im: _saved(im.convert("LA"), "PNG"),
    "RGBA PNG": lambda im: _saved(im.convert("RGBA"), "PNG"),
    "CMYK JPEG": lambda im: _saved(im.convert("CMYK"), "JPEG", quality=90),
    "1-bit PNG": lambda im: _saved(im.convert("1"), "PNG"),
    "RGBA WebP": lambda im: _saved(im.convert("RGBA"), "WEBP", quality=90),
}


@pytest.mark.parametrize("mode", COPIES)
def test_copy_in_each_image_mode_matches_its_asset(mode: str) -> None:
    assert _matches(COPIES[mode](_asset_rgb()))


def test_sixteen_bit_png_decodes_to_its_tones_not_white() -> None:
    rgb = _asset_rgb()
    wide = decode(_saved(_sixteen_bit(rgb), "PNG"), LIMITS).pixels
    narrow = decode(encode(rgb.convert("L"), "PNG"), LIMITS).pixels
    difference = np.abs(np.asarray(wide, dtype=np.int16) - np.asarray(narrow, dtype=np.int16))
    assert difference.max() <= 1


def test_exif_rotated_copy_matches_its_asset() -> None:
    rgb = _asset_rgb()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; a viewer turns it back a quarter clockwise
    stored = rgb.transpose(Image.Transpose.ROTATE_90)
    assert _matches(_saved(stored, "JPEG", quality=90, exif=exif.tobytes()))
