"""Registering assets: from an image, from fingerprints only, duplicates, reads and lists."""

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlmodel import Session

from service.detection.features import LocalFeatures
from service.settings import Settings
from storage.db import make_engine
from storage.repositories import assets as assets_repo
from testing.images import encode, jpeg, photo
from tests.api_client import Api, auth
from tests.command import leaksentinel
from tests.conftest import Clock


def test_registered_asset_reads_back_without_its_pixels(api: Api) -> None:
    asset = api.asset(jpeg(1), name="Rear light bar", product="SU7")
    read = api.client.get(f"/v1/assets/{asset['id']}", headers=auth(api.security)).json()
    assert read == asset
    assert (read["width"], read["height"], read["status"]) == (640, 480, "active")
    assert read["embargo_until"].endswith("Z")


def test_same_image_twice_is_a_conflict_naming_the_first(api: Api) -> None:
    first = api.asset(jpeg(1))
    again = api.register_asset(jpeg(1))
    assert again.status_code == 409
    assert again.json()["asset_id"] == first["id"]


def test_asset_list_filters_by_product_and_pages(api: Api) -> None:
    for seed in range(1, 4):
        api.asset(jpeg(seed), product="SU7")
    api.asset(jpeg(9), product="Phone")
    page = api.client.get(
        "/v1/assets", params={"product": "SU7", "limit": 2}, headers=auth(api.marketing)
    ).json()
    assert len(page["items"]) == 2
    rest = api.client.get(
        "/v1/assets",
        params={"product": "SU7", "limit": 2, "cursor": page["next_cursor"]},
        headers=auth(api.marketing),
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = {a["id"] for a in page["items"] + rest["items"]}
    assert len(ids) == 3


def test_cli_fingerprints_register_an_asset_that_catches_the_leak(
    api: Api, tmp_path: Path, clock: Clock
) -> None:
    image = tmp_path / "render.png"
    image.write_bytes(encode(photo(11), "PNG"))
    printed = leaksentinel("fingerprint", str(image), check=True).stdout
    fingerprints: list[dict[str, Any]] = json.loads(printed)["fingerprints"]
    assert {f["algorithm"] for f in fingerprints} == {"pdq", "phash"}

    response = api.client.post(
        "/v1/assets/fingerprints",
        json={
            "name": "Dashboard render",
            "product": "SU7",
            "embargo_until": "2099-01-01T00:00:00+08:00",
            "fingerprints": fingerprints,
        },
        headers=auth(api.marketing),
    )
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "fingerprints"
    api.sighting(jpeg(11, quality=60))
    [leak] = api.leaks()
    assert leak["asset"]["id"] == response.json()["id"]


def test_cli_fingerprint_is_what_the_server_computes(
    api: Api, tmp_path: Path, settings: Settings
) -> None:
    image = tmp_path / "asset.jpg"
    image.write_bytes(jpeg(12))
    printed = json.loads(leaksentinel("fingerprint", str(image), check=True).stdout)
    registered = api.asset(image.read_bytes())

    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        stored = assets_repo.fingerprints_of(session, UUID(registered["id"]))
    engine.dispose()
    assert printed["sha256"] == registered["sha256"]
    hashes = [f for f in stored if f.algorithm != "orb1"]
    assert [(f.algorithm, f.variant, f.bits.hex()) for f in hashes] == [
        (f["algorithm"], f["variant"], f["hex"]) for f in printed["fingerprints"]
    ]
    [local] = [f for f in stored if f.algorithm == "orb1"]
    assert LocalFeatures.from_bytes(local.bits).to_text() == printed["local_features"]
