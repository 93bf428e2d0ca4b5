"""Durability: what the API acknowledged survives a SIGKILL, and the index comes back."""

from pathlib import Path

import httpx2 as httpx
import pytest

from testing.images import jpeg
from testing.server import Server, matched

pytestmark = pytest.mark.slow


def test_killed_server_keeps_acknowledged_writes_and_reloads_index(
    server_env: dict[str, str], tmp_path: Path, bootstrap_key: str
) -> None:
    server = Server(server_env, tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            admin = {"Authorization": f"Bearer {bootstrap_key}"}
            keys = {
                role: http.post(
                    "/v1/keys", json={"name": role, "role": role}, headers=admin
                ).json()["key"]
                for role in ("marketing", "crawler", "security")
            }
            asset = http.post(
                "/v1/assets",
                files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
                data={"name": "front", "product": "SU7", "embargo_until": "2099-01-01T00:00:00Z"},
                headers={"Authorization": f"Bearer {keys['marketing']}"},
            )
            assert asset.status_code == 201
            first = http.post(
                "/v1/sightings",
                files={"file": ("f.jpg", jpeg(1, quality=60), "image/jpeg")},
                data={"page_url": "https://first.example.com/"},
                headers={"Authorization": f"Bearer {keys['crawler']}"},
            )
            assert first.status_code == 201
        server.kill()

        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            second = http.post(
                "/v1/sightings",
                files={"file": ("g.jpg", jpeg(1, quality=40), "image/jpeg")},
                data={"page_url": "https://second.example.org/"},
                headers={"Authorization": f"Bearer {keys['crawler']}"},
            )
            assert second.status_code == 201
            matched(server_env["LEAKSENTINEL_DATABASE_URL"])
            leaks = http.get(
                "/v1/leaks", headers={"Authorization": f"Bearer {keys['security']}"}
            ).json()["items"]
    finally:
        server.stop()

    [leak] = leaks
    assert leak["asset"]["id"] == asset.json()["id"]
    assert leak["sightings_count"] == 2  # the second one matched through the reloaded index
    assert leak["domains"] == ["first.example.com", "second.example.org"]
    sha = first.json()["sha256"]
    assert (tmp_path / "data" / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes() == jpeg(
        1, quality=60
    )
