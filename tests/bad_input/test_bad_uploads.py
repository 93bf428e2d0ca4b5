"""Uploads refused (images that cannot be accepted, files over the byte limit); none stored."""

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
from PIL import Image

from service.settings import Settings
from testing.images import encode, photo
from tests.api_client import Api, auth
from tests.bad_input.calls import (
    ASSET,
    UPLOADS,
    assert_next_upload_succeeds,
    assert_problem,
    blobs,
    fresh_copy_of_registered,
    image,
    stored,
    upload,
)

# --- images ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def png_bomb(side: int) -> bytes:
    """A valid black 1-bit PNG of side x side pixels. At 30000 it is about 110 KB on the wire and
    900 megapixels (some 2.7 GB as RGB) once decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def over_pixel_limit() -> bytes:
    """4.2 megapixels (the tests' limit is 4), a few KB as a flat PNG."""
    return encode(Image.new("L", (2100, 2000), 128), "PNG")


def truncated_jpeg() -> bytes:
    data = image(7)
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A valid JPEG header up to and including the start of scan, then random bytes. (libjpeg
    decodes some noise without an error, as grey garbage; seed 0 is one it refuses.)"""
    data = image(7)
    sos = data.index(b"\xff\xda")
    (length,) = struct.unpack(">H", data[sos + 2 : sos + 4])
    noise = np.random.default_rng(0).integers(0, 256, size=20_000, dtype=np.uint8).tobytes()
    return data[: sos + 2 + length] + noise


def small(fmt: str) -> Callable[[], bytes]:
    return lambda: encode(photo(7, (64, 48)), fmt)


@dataclass(frozen=True)
class BadImage:
    make: Callable[[], bytes]
    status: int
    reasons: tuple[str, ...]  # the `reason` of the problem body: which check refused it


BAD_IMAGES = {
    "decompression-bomb-900-megapixels": BadImage(
        lambda: png_bomb(30_000), 413, ("decompression_bomb",)
    ),
    # Over Pillow's own warning threshold (89 Mpx) but under its error threshold (179 Mpx).
    "declared-100-megapixels": BadImage(
        lambda: png_bomb(10_000), 413, ("too_many_pixels", "decompression_bomb")
    ),
    "over-pixel-limit": BadImage(over_pixel_limit, 413, ("too_many_pixels",)),
    "truncated-jpeg": BadImage(truncated_jpeg, 422, ("corrupt",)),
    "corrupt-jpeg": BadImage(corrupt_jpeg, 422, ("corrupt",)),
    "empty-file": BadImage(lambda: b"", 422, ("empty",)),
    "text-file": BadImage(
        lambda: b"This is not an image, just a note.\n" * 20, 415, ("unsupported_format",)
    ),
    "bmp": BadImage(small("BMP"), 415, ("unsupported_format",)),
    "tiff": BadImage(small("TIFF"), 415, ("unsupported_format",)),
}


# --- images that are not acceptable ------------------------------------------------------------


@pytest.mark.parametrize("bad", list(BAD_IMAGES.values()), ids=list(BAD_IMAGES))
@pytest.mark.parametrize("target", UPLOADS)
def test_bad_image_upload_is_refused_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], target: str, bad: BadImage
) -> None:
    before = stored(api, settings)

    body = assert_problem(upload(api, target, bad.make()), bad.status)

    assert body["reason"] in bad.reasons
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, target)


def test_decompression_bomb_is_small_on_the_wire_and_huge_once_decoded() -> None:
    """Guards the bomb above: its header declares 30000x30000 and its stream inflates in full."""
    bomb = png_bomb(30_000)
    assert len(bomb) < 200_000
    width, height = struct.unpack(">II", bomb[16:24])
    assert (width, height) == (30_000, 30_000)
    idat_length = struct.unpack(">I", bomb[33:37])[0]
    assert bomb[37:41] == b"IDAT"
    inflater, pending, inflated = zlib.decompressobj(), bomb[41 : 41 + idat_length], 0
    while pending:
        inflated += len(inflater.decompress(pending, 1 << 20))
        pending = inflater.unconsumed_tail
    assert inflated + len(inflater.flush()) == height * (1 + width // 8)


# --- bodies over the byte limit ----------------------------------------------------------------


def padded_jpeg(size: int) -> bytes:
    """A valid JPEG followed by zero bytes up to `size`: only its length is wrong."""
    data = image(7)
    return data + b"\x00" * (size - len(data))


@pytest.mark.parametrize("target", UPLOADS)
def test_file_one_byte_over_the_upload_limit_is_413_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], target: str
) -> None:
    before = stored(api, settings)

    body = assert_problem(upload(api, target, padded_jpeg(settings.max_upload_bytes + 1)), 413)

    assert body["reason"] == "too_large"
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, target)


@pytest.mark.parametrize("target", UPLOADS)
def test_declared_body_far_over_the_limit_is_413_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], target: str
) -> None:
    before = stored(api, settings)

    response = upload(api, target, padded_jpeg(3 * settings.max_upload_bytes))

    assert_problem(response, 413)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, target)


@pytest.mark.parametrize("target", UPLOADS)
def test_chunked_body_over_the_limit_is_413_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], target: str
) -> None:
    """No Content-Length to refuse up front: the cap has to hold while the body streams in."""
    key = api.marketing if target == ASSET else api.crawler
    form = (
        {
            "name": "Prototype dashboard",
            "product": "SU7",
            "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
        }
        if target == ASSET
        else {"page_url": "https://news.example.com/scoop"}
    )
    request = httpx.Request(
        "POST",
        f"http://testserver/v1/{target}s",
        files={"file": ("big.jpg", padded_jpeg(3 * settings.max_upload_bytes), "image/jpeg")},
        data=form,
    )
    body = request.read()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    before = stored(api, settings)
    response = api.client.post(
        f"/v1/{target}s",
        content=chunks(),
        headers={**auth(key), "content-type": request.headers["content-type"]},
    )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, target)


def test_the_blob_folder_is_where_the_tests_look(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    """Guards the blob checks of tests/bad_input.py: a good sighting does land under
    settings.blob_path."""
    before = blobs(settings)
    assert before  # the registered asset's review thumbnail at least
    receipt = api.sighting(fresh_copy_of_registered())
    [name] = set(blobs(settings)) - set(before)
    assert Path(name).name == receipt["sha256"]
