"""The asset the real-server tests register, its leaked copy, and its leaks once all is matched."""

from typing import Any

import httpx2 as httpx

from testing.images import jpeg
from testing.server import matched
from tests.api_client import auth

EMBARGO = "2099-01-01T00:00:00Z"


def asset_image() -> bytes:
    return jpeg(1)


def leaked_copy() -> bytes:
    return jpeg(1, quality=60)


def asset_form() -> dict[str, Any]:
    return {
        "files": {"file": ("asset.jpg", asset_image(), "image/jpeg")},
        "data": {"name": "front", "product": "SU7", "embargo_until": EMBARGO},
    }


def leaks_of(
    base_url: str, security_key: str, asset_id: str, database_url: str
) -> list[dict[str, Any]]:
    """The asset's leaks once the server has matched every sighting it acknowledged."""
    matched(database_url)
    response = httpx.get(
        f"{base_url}/v1/leaks",
        params={"asset_id": asset_id},
        headers=auth(security_key),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
