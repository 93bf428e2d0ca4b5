"""Bad field values (fingerprints, non-http URLs, NUL characters, leak status); nothing stored."""

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from service.settings import Settings
from tests.api_client import Api, auth
from tests.bad_input.calls import (
    ASSET,
    PDQ_HEX,
    PHASH_HEX,
    SIGHTING,
    assert_next_upload_succeeds,
    assert_problem,
    image,
    post_fingerprints,
    stored,
    upload,
)

# --- fingerprints --------------------------------------------------------------------------------

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
