"""Bad input's checks (a 4xx problem, nothing stored, the next request served), and its uploads."""

from datetime import timedelta
from functools import cache
from typing import Any

import httpx2 as httpx

from service.settings import Settings
from testing.images import encode, jpeg, photo, unused_seed
from tests.api_client import Api, auth

PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail"}
ASSET, SIGHTING = "asset", "sighting"
UPLOADS = [ASSET, SIGHTING]

PDQ_HEX = "0f" * 32
PHASH_HEX = "a5" * 8

# Well-formed instants whose conversion to UTC leaves the range of a datetime.
OUT_OF_RANGE = {
    "embargo-year-9999-behind-utc": "9999-12-31T23:00:00-05:00",
    "year-1-ahead-of-utc": "0001-01-01T00:30:00+01:00",
}


@cache
def image(seed: int) -> bytes:
    return jpeg(seed)


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


def every_item(api: Api, path: str) -> list[dict[str, Any]]:
    """Every page of a list, as security sees it."""
    items: list[dict[str, Any]] = []
    params = {"limit": "200"}
    while True:
        response = api.client.get(path, params=params, headers=auth(api.security))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if not body["next_cursor"]:
            return items
        params["cursor"] = body["next_cursor"]


def stored(api: Api, settings: Settings) -> dict[str, Any]:
    """What the service holds, as security sees it through the API, plus the blob folder."""
    leaks = every_item(api, "/v1/leaks")
    details = [
        api.client.get(f"/v1/leaks/{leak['id']}", headers=auth(api.security)).json()
        for leak in leaks
    ]
    return {
        "assets": every_item(api, "/v1/assets"),
        "leaks": leaks,
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


def fresh_asset_image() -> bytes:
    """A picture no case has registered yet."""
    return jpeg(unused_seed())


def fresh_copy_of_registered() -> bytes:
    """A file no case has sent yet that matches the registered asset (seed 1): its photo with one
    pixel changed."""
    n = unused_seed()
    picture = photo(1)
    picture.putpixel((n % 640, n // 640 % 480), (n * 37 % 256, n * 91 % 256, n * 13 % 256))
    return encode(picture, "JPEG")


def assert_next_upload_succeeds(api: Api, settings: Settings, target: str) -> None:
    """A good upload after the bad one: an asset is listed; a sighting of the registered asset
    (seed 1) is stored as a blob and counted once in that asset's leak."""
    if target == ASSET:
        response = upload(api, ASSET, fresh_asset_image())
        assert response.status_code == 201, response.text
        listed = every_item(api, "/v1/assets")
        assert response.json()["id"] in [a["id"] for a in listed]
        return
    blobs_before = blobs(settings)
    counts_before = {leak["id"]: leak["sightings_count"] for leak in every_item(api, "/v1/leaks")}
    response = upload(api, SIGHTING, fresh_copy_of_registered())
    assert response.status_code == 201, response.text
    counts = {leak["id"]: leak["sightings_count"] for leak in every_item(api, "/v1/leaks")}
    grown = {i: n - counts_before.get(i, 0) for i, n in counts.items() if n != counts_before.get(i)}
    assert list(grown.values()) == [1], (counts_before, counts)
    assert len(blobs(settings)) == len(blobs_before) + 1


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
