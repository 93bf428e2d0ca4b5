"""Bad input: each one gets a 4xx `application/problem+json` answer, stores nothing (no asset,
no leak, no blob) and leaves the process able to serve the next, good request."""

import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2 as httpx
import numpy as np
import pytest
from PIL import Image

from service.settings import MAX_BATCH_ITEMS, Settings
from testing.images import encode, jpeg, photo
from tests.api_client import Api, auth

PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail"}
ASSET, SIGHTING = "asset", "sighting"
UPLOADS = [ASSET, SIGHTING]

PDQ_HEX = "0f" * 32
PHASH_HEX = "a5" * 8


# --- images ------------------------------------------------------------------------------------


@cache
def image(seed: int) -> bytes:
    return jpeg(seed)


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


# --- helpers -----------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert all(isinstance(body[f], str) and body[f] for f in ("type", "title", "detail")), body
    return body


def blobs(settings: Settings) -> list[str]:
    root = settings.blob_path
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def stored(api: Api, settings: Settings) -> dict[str, Any]:
    """What the service holds, as security sees it through the API, plus the blob folder."""
    security = auth(api.security)
    assets = api.client.get("/v1/assets", headers=security)
    leaks = api.client.get("/v1/leaks", headers=security)
    assert assets.status_code == leaks.status_code == 200, (assets.text, leaks.text)
    details = [
        api.client.get(f"/v1/leaks/{leak['id']}", headers=security).json()
        for leak in leaks.json()["items"]
    ]
    return {
        "assets": assets.json(),
        "leaks": leaks.json(),
        "details": details,
        "blobs": blobs(settings),
    }


def upload(
    api: Api,
    target: str,
    data: bytes,
    *,
    filename: str = "upload.jpg",
    **fields: str,
) -> httpx.Response:
    if target == ASSET:
        form = {
            "name": "Prototype dashboard",
            "product": "SU7",
            "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
            **fields,
        }
        key = api.marketing
    else:
        form = {"page_url": "https://news.example.com/scoop", **fields}
        key = api.crawler
    return api.client.post(
        f"/v1/{target}s",
        files={"file": (filename, data, "application/octet-stream")},
        data=form,
        headers=auth(key),
    )


def assert_next_upload_succeeds(api: Api, settings: Settings, target: str) -> None:
    """A good upload after the bad one: an asset is listed; a sighting of the registered asset
    (seed 1) is stored as a blob and counted once in a leak."""
    if target == ASSET:
        response = upload(api, ASSET, image(2))
        assert response.status_code == 201, response.text
        listed = api.client.get("/v1/assets", headers=auth(api.security)).json()["items"]
        assert response.json()["id"] in [a["id"] for a in listed]
        return
    before = blobs(settings)  # the registered asset's review thumbnail
    response = upload(api, SIGHTING, image(1))
    assert response.status_code == 201, response.text
    [leak] = api.leaks()
    assert leak["sightings_count"] == 1
    assert len(blobs(settings)) == len(before) + 1


@pytest.fixture
def registered(api: Api) -> dict[str, Any]:
    """An active asset (seed 1), so that a sighting stored by mistake would show as a leak."""
    return api.asset(image(1))


@pytest.fixture
def leak_id(api: Api, registered: dict[str, Any]) -> str:
    api.sighting(image(1))
    [leak] = api.leaks()
    return str(leak["id"])


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


# --- dates -------------------------------------------------------------------------------------

MALFORMED_DATES = {
    "words": "next tuesday",
    "naive": "2031-03-01T09:00:00",
    "impossible-day": "2031-02-30T09:00:00+01:00",
}


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_asset_upload_is_422_and_stores_nothing(
    api: Api, settings: Settings, value: str
) -> None:
    before = stored(api, settings)

    assert_problem(upload(api, ASSET, image(1), embargo_until=value), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_fingerprint_registration_is_422_and_stores_nothing(
    api: Api, settings: Settings, value: str
) -> None:
    before = stored(api, settings)

    response = post_fingerprints(api, embargo_until=value)

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert post_fingerprints(api).status_code == 201


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_asset_patch_is_422_and_changes_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], value: str
) -> None:
    before = stored(api, settings)
    url = f"/v1/assets/{registered['id']}"

    response = api.client.patch(url, json={"embargo_until": value}, headers=auth(api.marketing))

    assert_problem(response, 422)
    assert stored(api, settings) == before
    later = (api.clock() + timedelta(days=90)).isoformat()
    moved = api.client.patch(url, json={"embargo_until": later}, headers=auth(api.marketing))
    assert moved.status_code == 200, moved.text


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_found_at_on_sighting_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], value: str
) -> None:
    before = stored(api, settings)

    assert_problem(upload(api, SIGHTING, image(1), found_at=value), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


def test_found_at_in_the_future_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)
    tomorrow = (api.clock() + timedelta(days=1)).isoformat()

    assert_problem(upload(api, SIGHTING, image(1), found_at=tomorrow), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


@pytest.mark.parametrize("target", ["upload", "fingerprints"])
def test_embargo_in_the_past_is_422_and_stores_nothing(
    api: Api, settings: Settings, target: str
) -> None:
    before = stored(api, settings)
    past = (api.clock() - timedelta(minutes=1)).isoformat()

    if target == "upload":
        response = upload(api, ASSET, image(1), embargo_until=past)
    else:
        response = post_fingerprints(api, embargo_until=past)

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


# Well-formed instants whose conversion to UTC leaves the range of a datetime.
OUT_OF_RANGE = {
    "embargo-year-9999-behind-utc": "9999-12-31T23:00:00-05:00",
    "year-1-ahead-of-utc": "0001-01-01T00:30:00+01:00",
}


def test_embargo_that_overflows_utc_is_422_and_stores_nothing(api: Api, settings: Settings) -> None:
    before = stored(api, settings)

    response = upload(
        api, ASSET, image(1), embargo_until=OUT_OF_RANGE["embargo-year-9999-behind-utc"]
    )

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


def test_found_at_that_overflows_utc_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = upload(api, SIGHTING, image(1), found_at=OUT_OF_RANGE["year-1-ahead-of-utc"])

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


# --- ids ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdRoute:
    method: str
    path: str
    body: dict[str, Any] | None
    role: str


ID_ROUTES = {
    "GET-asset": IdRoute("GET", "/v1/assets/{}", None, "marketing"),
    "PATCH-asset": IdRoute("PATCH", "/v1/assets/{}", {"status": "retired"}, "marketing"),
    "GET-leak": IdRoute("GET", "/v1/leaks/{}", None, "security"),
    "GET-leak-sightings": IdRoute("GET", "/v1/leaks/{}/sightings", None, "security"),
    "PATCH-leak": IdRoute("PATCH", "/v1/leaks/{}", {"status": "confirmed"}, "security"),
    "DELETE-key": IdRoute("DELETE", "/v1/keys/{}", None, "admin"),
}


def key_for(api: Api, role: str) -> str:
    return {"marketing": api.marketing, "security": api.security, "admin": api.admin}[role]


def call_with_id(api: Api, route: IdRoute, some_id: str) -> httpx.Response:
    return api.client.request(
        route.method,
        route.path.format(some_id),
        json=route.body,
        headers=auth(key_for(api, route.role)),
    )


@pytest.mark.parametrize("route", list(ID_ROUTES.values()), ids=list(ID_ROUTES))
def test_unknown_id_is_404_and_changes_nothing(
    api: Api, settings: Settings, leak_id: str, route: IdRoute
) -> None:
    before = stored(api, settings)

    assert_problem(call_with_id(api, route, str(uuid4())), 404)

    assert stored(api, settings) == before
    assert api.client.get("/healthz").status_code == 200


@pytest.mark.parametrize("some_id", ["not-a-uuid", "00000000-0000-0000-0000"])
@pytest.mark.parametrize("route", list(ID_ROUTES.values()), ids=list(ID_ROUTES))
def test_id_that_is_not_a_uuid_is_422(api: Api, route: IdRoute, some_id: str) -> None:
    assert_problem(call_with_id(api, route, some_id), 422)


# --- JSON bodies -------------------------------------------------------------------------------


def post_fingerprints(
    api: Api, fingerprints: list[dict[str, str]] | None = None, **fields: Any
) -> httpx.Response:
    body = {
        "name": "Spec sheet",
        "product": "SU7",
        "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
        "fingerprints": fingerprints
        if fingerprints is not None
        else [
            {"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX},
            {"algorithm": "phash", "variant": "original", "hex": PHASH_HEX},
        ],
        **fields,
    }
    return api.client.post("/v1/assets/fingerprints", json=body, headers=auth(api.marketing))


MALFORMED_JSON = b'{"embargo_until": "2031-03-01T09:00:00+00:00", "status": '


@pytest.mark.parametrize(
    "target", ["POST-assets-fingerprints", "PATCH-asset", "PATCH-leak", "POST-keys"]
)
def test_malformed_json_is_400_and_changes_nothing(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], target: str
) -> None:
    method, url, key = {
        "POST-assets-fingerprints": ("POST", "/v1/assets/fingerprints", api.marketing),
        "PATCH-asset": ("PATCH", f"/v1/assets/{registered['id']}", api.marketing),
        "PATCH-leak": ("PATCH", f"/v1/leaks/{leak_id}", api.security),
        "POST-keys": ("POST", "/v1/keys", api.admin),
    }[target]
    keys_before = api.client.get("/v1/keys", headers=auth(api.admin)).json()
    before = stored(api, settings)

    response = api.client.request(
        method,
        url,
        content=MALFORMED_JSON,
        headers={**auth(key), "content-type": "application/json"},
    )

    assert_problem(response, 400)
    assert stored(api, settings) == before
    assert api.client.get("/v1/keys", headers=auth(api.admin)).json() == keys_before
    assert post_fingerprints(api).status_code == 201


BAD_FINGERPRINTS = {
    "unknown-algorithm": [{"algorithm": "md5", "variant": "original", "hex": "ab" * 16}],
    "pdq-too-short": [{"algorithm": "pdq", "variant": "original", "hex": "ab" * 31}],
    "phash-too-long": [{"algorithm": "phash", "variant": "original", "hex": "ab" * 9}],
    "odd-number-of-hex-digits": [{"algorithm": "phash", "variant": "original", "hex": "a" * 15}],
    "not-hex": [{"algorithm": "pdq", "variant": "original", "hex": "zz" * 32}],
    "empty-variant": [{"algorithm": "phash", "variant": "", "hex": PHASH_HEX}],
    "no-fingerprints": [],
    "same-fingerprint-twice": [
        {"algorithm": "phash", "variant": "original", "hex": PHASH_HEX},
        {"algorithm": "phash", "variant": "original", "hex": PHASH_HEX},
    ],
    "one-bad-among-good": [
        {"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX},
        {"algorithm": "phash", "variant": "original", "hex": "xyz"},
    ],
}


@pytest.mark.parametrize(
    "fingerprints", list(BAD_FINGERPRINTS.values()), ids=list(BAD_FINGERPRINTS)
)
def test_bad_fingerprints_are_422_and_store_nothing(
    api: Api, settings: Settings, fingerprints: list[dict[str, str]]
) -> None:
    before = stored(api, settings)

    assert_problem(post_fingerprints(api, fingerprints), 422)

    assert stored(api, settings) == before
    assert post_fingerprints(api).status_code == 201


# --- sighting URLs -----------------------------------------------------------------------------

BAD_URLS = {
    "page-ftp": {"page_url": "ftp://news.example.com/scoop"},
    "page-javascript": {"page_url": "javascript:alert(1)"},
    "page-file": {"page_url": "file:///etc/passwd"},
    "page-relative": {"page_url": "/scoop/42"},
    "page-without-scheme": {"page_url": "news.example.com/scoop"},
    "page-without-host": {"page_url": "https://"},
    "page-empty": {"page_url": ""},
    "page-host-longer-than-dns-allows": {"page_url": "https://" + "a" * 300 + ".example/x"},
    "image-data-uri": {"image_url": "data:image/png;base64,iVBORw0KGgo="},
    "image-file": {"image_url": "file:///etc/passwd"},
}


@pytest.mark.parametrize("fields", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_sighting_url_that_is_not_http_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], fields: dict[str, str]
) -> None:
    before = stored(api, settings)

    assert_problem(upload(api, SIGHTING, image(1), **fields), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


# --- text with a NUL character -----------------------------------------------------------------

NUL = "before\x00after"


def _nul_asset_name(api: Api, _: str) -> httpx.Response:
    return upload(api, ASSET, image(2), name=NUL)


def _nul_fingerprint_product(api: Api, _: str) -> httpx.Response:
    return post_fingerprints(api, product=NUL)


def _nul_key_name(api: Api, _: str) -> httpx.Response:
    return api.client.post(
        "/v1/keys", json={"name": NUL, "role": "crawler"}, headers=auth(api.admin)
    )


def _nul_page_url(api: Api, _: str) -> httpx.Response:
    return upload(api, SIGHTING, image(1), page_url=f"https://news.example.com/{NUL}")


def _nul_account(api: Api, _: str) -> httpx.Response:
    return upload(api, SIGHTING, image(1), account=NUL)


def _nul_leak_note(api: Api, leak: str) -> httpx.Response:
    return api.client.patch(f"/v1/leaks/{leak}", json={"note": NUL}, headers=auth(api.security))


def _nul_leak_assignee(api: Api, leak: str) -> httpx.Response:
    return api.client.patch(f"/v1/leaks/{leak}", json={"assignee": NUL}, headers=auth(api.security))


NUL_CALLS: dict[str, Callable[[Api, str], httpx.Response]] = {
    "asset-name": _nul_asset_name,
    "fingerprint-asset-product": _nul_fingerprint_product,
    "key-name": _nul_key_name,
    "sighting-page-url": _nul_page_url,
    "sighting-account": _nul_account,
    "leak-note": _nul_leak_note,
    "leak-assignee": _nul_leak_assignee,
}


@pytest.mark.parametrize("call", list(NUL_CALLS.values()), ids=list(NUL_CALLS))
def test_text_with_a_nul_character_is_422_and_stores_nothing(
    api: Api, settings: Settings, leak_id: str, call: Callable[[Api, str], httpx.Response]
) -> None:
    """PostgreSQL cannot store NUL in text; both back ends must refuse it the same way."""
    keys_before = api.client.get("/v1/keys", headers=auth(api.admin)).json()
    before = stored(api, settings)

    assert_problem(call(api, leak_id), 422)

    assert stored(api, settings) == before
    assert api.client.get("/v1/keys", headers=auth(api.admin)).json() == keys_before
    assert_next_upload_succeeds(api, settings, ASSET)


# --- leak triage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [("takedown_requested", 409), ("resolved-ish", 422), ("", 422)],
    ids=["open-to-takedown-requested-is-409", "unknown-status-is-422", "empty-status-is-422"],
)
def test_invalid_leak_status_change_is_refused_and_changes_nothing(
    api: Api, settings: Settings, leak_id: str, status: str, expected: int
) -> None:
    before = stored(api, settings)
    url = f"/v1/leaks/{leak_id}"

    response = api.client.patch(
        url, json={"status": status, "note": "should not be kept"}, headers=auth(api.security)
    )

    assert_problem(response, expected)
    assert stored(api, settings) == before
    confirmed = api.client.patch(url, json={"status": "confirmed"}, headers=auth(api.security))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"


# --- list queries ------------------------------------------------------------------------------

BAD_QUERIES = {
    "leaks-unknown-status": ("/v1/leaks", {"status": "bogus"}, 422),
    "leaks-since-words": ("/v1/leaks", {"since": "next tuesday"}, 422),
    "leaks-until-naive": ("/v1/leaks", {"until": "2031-03-01T09:00:00"}, 422),
    "leaks-since-overflows-utc": ("/v1/leaks", {"since": OUT_OF_RANGE["year-1-ahead-of-utc"]}, 422),
    "leaks-asset-id-not-uuid": ("/v1/leaks", {"asset_id": "not-a-uuid"}, 422),
    "leaks-cursor-garbage": ("/v1/leaks", {"cursor": "garbage!"}, 400),
    "leaks-limit-zero": ("/v1/leaks", {"limit": "0"}, 422),
    "assets-cursor-garbage": ("/v1/assets", {"cursor": "bm90IGEgY3Vyc29y"}, 400),
    "assets-limit-not-a-number": ("/v1/assets", {"limit": "ten"}, 422),
}


@pytest.mark.parametrize(
    ("path", "params", "expected"), list(BAD_QUERIES.values()), ids=list(BAD_QUERIES)
)
def test_bad_list_query_is_refused(
    api: Api, path: str, params: dict[str, str], expected: int
) -> None:
    assert_problem(api.client.get(path, params=params, headers=auth(api.security)), expected)
    assert api.client.get(path, headers=auth(api.security)).status_code == 200


def test_the_blob_folder_is_where_the_tests_look(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    """Guards the blob checks above: a good sighting does land under settings.blob_path."""
    before = blobs(settings)
    assert len(before) == 1  # the registered asset's review thumbnail, nothing else
    receipt = api.sighting(image(1))
    [name] = set(blobs(settings)) - set(before)
    assert Path(name).name == receipt["sha256"]


# --- hostile bodies: long lists, many values, deep nesting --------------------------------------

# A problem document stays this small whatever the body held (the figure: under 10 KB).
SMALL_ANSWER_BYTES = 10 * 1024
MILLION_ONES = b"[" + b"1," * 999_999 + b"1]"  # 2 MB


def json_targets(api: Api, leak_id: str, asset_id: str) -> dict[str, tuple[str, str, str, str]]:
    """method, url, key and the list field of each JSON route that takes one (or, for the PATCH
    bodies, a field a list could be put in)."""
    return {
        "hash-only": ("POST", "/v1/sightings/fingerprints", api.crawler, "items"),
        "asset-fingerprints": ("POST", "/v1/assets/fingerprints", api.marketing, "fingerprints"),
        "asset-patch": ("PATCH", f"/v1/assets/{asset_id}", api.marketing, "embargo_until"),
        "leak-patch": ("PATCH", f"/v1/leaks/{leak_id}", api.security, "note"),
        "webhook": ("POST", "/v1/webhooks", api.security, "events"),
    }


JSON_TARGETS = ["hash-only", "asset-fingerprints", "asset-patch", "leak-patch", "webhook"]


def send_json(api: Api, target: tuple[str, str, str, str], body: bytes) -> httpx.Response:
    method, url, key, _ = target
    return api.client.request(
        method, url, content=body, headers={**auth(key), "content-type": "application/json"}
    )


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_million_item_list_is_refused_small_before_it_is_parsed(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    # A 2 MB `{"items": [1, 1, ...]}` got a 139 MB 422 after 13 s, holding every other request.
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(api, target, b'{"' + target[3].encode() + b'": ' + MILLION_ONES + b"}")

    body = assert_problem(response, 413)
    # The fingerprint routes admit more bytes (local features are long strings): there the
    # count of values refuses it, as unparsed.
    assert body["type"].endswith((":body-too-large", ":body-too-complex"))
    assert len(response.content) < SMALL_ANSWER_BYTES
    assert stored(api, settings) == before


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_many_values_under_the_byte_cap_are_refused_before_they_are_parsed(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    # Empty lists are the costliest values to parse per byte: ~3 bytes each.
    target = json_targets(api, leak_id, registered["id"])[name]
    hostile = b'{"' + target[3].encode() + b'": [' + b"[]," * 200_000 + b"[]]}"
    assert len(hostile) < settings.max_json_body_bytes

    response = send_json(api, target, hostile)

    body = assert_problem(response, 413)
    assert body["type"].endswith(":body-too-complex")
    assert len(response.content) < SMALL_ANSWER_BYTES


@pytest.mark.parametrize(
    ("name", "length"), [("hash-only", 1001), ("asset-fingerprints", 1001), ("webhook", 11)]
)
def test_list_longer_than_its_schema_allows_is_refused_by_its_length_alone(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str, length: int
) -> None:
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(
        api, target, b'{"' + target[3].encode() + b'": [' + b"1," * length + b"1]}"
    )

    body = assert_problem(response, 422)
    # One error for the length, none for the thousand items that are not objects either.
    too_long = [e for e in body["errors"] if e["type"] == "too_long"]
    assert [e["loc"] for e in too_long] == [["body", target[3]]]
    assert body["error_count"] < 10
    assert stored(api, settings) == before


def test_problem_names_at_most_twenty_errors_and_counts_them_all(
    api: Api, settings: Settings
) -> None:
    items = [{"page_url": 1, "fingerprints": "x", "x" * 5000: 1}] * 100
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": items}, headers=auth(api.crawler)
    )

    body = assert_problem(response, 422)
    assert len(body["errors"]) == 20
    assert body["error_count"] == 300
    assert len(response.content) < SMALL_ANSWER_BYTES


def test_body_over_the_configured_json_cap_is_413(api: Api, settings: Settings) -> None:
    item = {
        "page_url": "https://news.example.com/scoop",
        "fingerprints": [{"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX}],
    }
    fits = settings.max_json_body_bytes // 200
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item] * fits}, headers=auth(api.crawler)
    )
    assert response.status_code in (200, 422), response.text  # read and answered, not capped
    over = settings.max_json_body_bytes // 100
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item] * over}, headers=auth(api.crawler)
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_json_body_nested_10000_deep_is_4xx(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(
        api, target, b'{"' + target[3].encode() + b'": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert stored(api, settings) == before


def post_batch(api: Api, manifest: str) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/batch",
        files=[("files", ("a.jpg", image(1), "image/jpeg"))],
        data={"manifest": manifest},
        headers=auth(api.crawler),
    )


def test_batch_manifest_nested_10000_deep_is_4xx_not_500(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = post_batch(api, "[" * 10_000 + "]" * 10_000)

    body = assert_problem(response, 422)
    assert "nested" in body["detail"]
    assert stored(api, settings) == before


def test_batch_manifest_of_many_values_is_refused_before_it_is_parsed(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = post_batch(api, "[" + "[]," * 200_000 + "[]]")

    body = assert_problem(response, 422)
    assert "values" in body["detail"]
    assert len(response.content) < SMALL_ANSWER_BYTES
    assert stored(api, settings) == before


def test_asset_upload_with_more_tags_than_allowed_is_422(api: Api, settings: Settings) -> None:
    before = stored(api, settings)
    response = api.client.post(
        "/v1/assets",
        files={"file": ("a.jpg", image(3), "image/jpeg")},
        data={
            "name": "Prototype",
            "product": "SU7",
            "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
            "tags": [f"t{n}" for n in range(51)],
        },
        headers=auth(api.marketing),
    )
    assert_problem(response, 422)
    assert stored(api, settings) == before


def test_batch_size_setting_cannot_exceed_what_the_schemas_bound() -> None:
    with pytest.raises(ValueError, match="max_batch_items"):
        Settings(_env_file=None, max_batch_items=MAX_BATCH_ITEMS + 1)  # type: ignore[call-arg]


def test_hostile_bodies_sent_while_healthz_is_probed_get_small_capped_answers(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    """Hostile bodies from one thread while another probes /healthz through the same event loop.
    How long a probe waits is measured by bench/hostile_bodies.py against a real server (tests
    assert no timings); here every probe is answered and every hostile body gets a small 4xx
    with its errors capped."""
    hostile = [
        b'{"items": ' + MILLION_ONES + b"}",
        b'{"items": [' + b"[]," * 200_000 + b"[]]}",
        b'{"items": [' + b"1," * 999 + b"1]}",
        b'{"items": [' + b'{"x": 1},' * 500 + b'{"x": 1}]}',
    ]
    answers: list[httpx.Response] = []
    done = threading.Event()

    def attack() -> None:
        try:
            for _ in range(3):
                for body in hostile:
                    answers.append(
                        api.client.post(
                            "/v1/sightings/fingerprints",
                            content=body,
                            headers={**auth(api.crawler), "content-type": "application/json"},
                        )
                    )
        finally:
            done.set()

    attacker = threading.Thread(target=attack)
    attacker.start()
    probes = []
    while not done.is_set():
        probes.append(api.client.get("/healthz").status_code)
    attacker.join()

    assert probes and set(probes) == {200}
    assert len(answers) == 3 * len(hostile)
    for response in answers:
        assert 400 <= response.status_code < 500, response.text[:500]
        assert len(response.content) < SMALL_ANSWER_BYTES
        body = response.json()
        assert len(body.get("errors", [])) <= 20
