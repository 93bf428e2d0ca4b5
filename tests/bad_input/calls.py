"""Bad input's checks (a 4xx problem, nothing stored, the next request served), and its uploads."""

from datetime import timedelta
from functools import cache
from typing import Any

import httpx2 as httpx

from service.settings import Settings
from testing.images import jpeg
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
