"""Several processes on one database agree on the assets: what one registers or retires, the
others match against at once."""

from pathlib import Path

import httpx2 as httpx
import pytest

from testing.images import jpeg
from testing.server import Server, matched

pytestmark = pytest.mark.slow


def test_asset_registered_on_one_replica_is_matched_by_another(
    server_env: dict[str, str], tmp_path: Path, bootstrap_key: str
) -> None:
    first, second = Server(server_env, tmp_path / "a.log"), Server(server_env, tmp_path / "b.log")
    first.start()
    second.start()
    try:
        admin = {"Authorization": f"Bearer {bootstrap_key}"}
        keys = {
            role: httpx.post(
                f"{first.base_url}/v1/keys", json={"name": role, "role": role}, headers=admin
            ).json()["key"]
            for role in ("marketing", "crawler", "security")
        }

        def sight(server: Server, page: str) -> None:
            response = httpx.post(
                f"{server.base_url}/v1/sightings",
                files={"file": ("f.jpg", jpeg(1, quality=60), "image/jpeg")},
                data={"page_url": page},
                headers={"Authorization": f"Bearer {keys['crawler']}"},
            )
            assert response.status_code == 201
            matched(server_env["LEAKSENTINEL_DATABASE_URL"])

        asset = httpx.post(
            f"{first.base_url}/v1/assets",
            files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
            data={"name": "front", "product": "SU7", "embargo_until": "2099-01-01T00:00:00Z"},
            headers={"Authorization": f"Bearer {keys['marketing']}"},
        ).json()
        sight(second, "https://one.example.com/")
        httpx.patch(
            f"{first.base_url}/v1/assets/{asset['id']}",
            json={"status": "retired"},
            headers={"Authorization": f"Bearer {keys['marketing']}"},
        ).raise_for_status()
        sight(second, "https://two.example.com/")

        leaks = httpx.get(
            f"{second.base_url}/v1/leaks", headers={"Authorization": f"Bearer {keys['security']}"}
        ).json()["items"]
    finally:
        first.stop()
        second.stop()

    [leak] = leaks
    assert leak["domains"] == ["one.example.com"]  # matched after registration, not after retiring
