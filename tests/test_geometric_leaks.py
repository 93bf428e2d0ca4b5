"""Leaks the global hashes miss and local features find, through the API on both back ends:
a crop off the asset grid, a rotation, a dark photo, hash-only crawlers and fingerprint-only
registration; the report places the asset in the found image and the dashboard outlines it."""

import json
from pathlib import Path
from typing import Any

from PIL import Image

from service.detection import features
from service.detection.decode import ImageLimits
from service.ingest.intake import fingerprint_locally
from testing.images import encode, photo
from tests.api_client import Api, auth
from tests.command import leaksentinel
from tests.ui_client import sign_in

SIZE = (1280, 960)
LIMITS = ImageLimits(max_bytes=50_000_000, max_pixels=50_000_000)


def _only_leak(api: Api) -> dict[str, Any]:
    [leak] = api.leaks()
    return api.leak(leak["id"])


def _register_by_fingerprints(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/assets/fingerprints",
        json={
            "name": "Render on black",
            "product": "SU7",
            "embargo_until": "2099-01-01T00:00:00+00:00",
            **body,
        },
        headers=auth(api.marketing),
    )


def test_crop_off_the_asset_grid_opens_a_leak_placed_in_the_found_image(api: Api) -> None:
    asset = api.asset(encode(photo(3, SIZE)))
    # Half of each side, at an offset that none of the registered crop windows has.
    api.sighting(encode(photo(3, SIZE).crop((500, 110, 1140, 590)), quality=80))

    detail = _only_leak(api)
    assert detail["asset"]["id"] == asset["id"]
    [sighting] = detail["sightings"]
    assert sighting["variant"] == "local-features"
    assert sighting["distances"]["inliers"] >= 15
    polygon = sighting["region_polygon"]
    assert len(polygon) == 4 and all(0 <= v <= 1 for corner in polygon for v in corner)


def test_hash_match_carries_the_outline_too(api: Api) -> None:
    api.asset(encode(photo(4, SIZE)))
    host = photo(80, SIZE)
    host.paste(photo(4, SIZE).resize((800, 600)), (400, 300))
    api.sighting(encode(host))

    [sighting] = _only_leak(api)["sightings"]
    left = min(x for x, _ in sighting["region_polygon"])
    top = min(y for _, y in sighting["region_polygon"])
    assert abs(left - 400 / 1280) < 0.03 and abs(top - 300 / 960) < 0.03


def test_dark_photo_is_registered_and_its_copy_opens_a_leak(api: Api) -> None:
    dark = Image.eval(photo(5, SIZE), lambda v: v // 12)
    asset = api.asset(encode(dark, "PNG"))
    api.sighting(encode(dark.resize((960, 720)), quality=70))
    assert _only_leak(api)["asset"]["id"] == asset["id"]


def test_hash_only_sighting_with_local_features_opens_a_leak(api: Api, tmp_path: Path) -> None:
    asset = api.asset(encode(photo(6, SIZE)))
    copy = tmp_path / "turned.jpg"
    copy.write_bytes(encode(photo(6, SIZE).rotate(17, expand=True)))
    printed = json.loads(
        leaksentinel("fingerprint", "--for", "sighting", str(copy), check=True).stdout
    )
    assert printed["local_features"].startswith(f"{features.ALGORITHM}:")
    item = {
        "page_url": "https://forum.example.net/t/1",
        "sha256": printed["sha256"],
        "fingerprints": printed["fingerprints"],
        "local_features": printed["local_features"],
    }
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item]}, headers=auth(api.crawler)
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert _only_leak(api)["asset"]["id"] == asset["id"]


def test_asset_registered_by_local_features_alone_catches_a_rotated_copy(api: Api) -> None:
    local = fingerprint_locally(encode(photo(7, SIZE)), LIMITS).prints.local
    assert local is not None
    response = _register_by_fingerprints(
        api, {"fingerprints": [], "local_features": local.to_text()}
    )
    assert response.status_code == 201, response.text

    api.sighting(encode(photo(7, SIZE).rotate(-14, expand=True)))
    assert _only_leak(api)["asset"]["id"] == response.json()["id"]


def test_malformed_local_features_are_refused_and_change_nothing(api: Api) -> None:
    response = _register_by_fingerprints(api, {"local_features": "orb1:AAAA"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "local features" in response.json()["detail"]

    item = {"page_url": "https://forum.example.net/t/2", "fingerprints": [], "local_features": "x"}
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item]}, headers=auth(api.crawler)
    )
    assert response.status_code == 200, response.text
    [outcome] = response.json()["items"]
    assert outcome["outcome"] == "rejected"
    listed = api.client.get("/v1/assets", headers=auth(api.marketing)).json()
    assert listed["items"] == []


def test_leak_page_outlines_where_local_features_placed_the_asset(api: Api) -> None:
    api.asset(encode(photo(8, SIZE)))
    api.sighting(encode(photo(8, SIZE).rotate(12, expand=True)))
    leak_id = _only_leak(api)["id"]

    assert sign_in(api.client, api.security).status_code == 303
    page = api.client.get(f"/ui/leaks/{leak_id}")
    assert page.status_code == 200
    assert '<polygon points="' in page.text
