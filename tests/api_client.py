"""A thin test-side client: the HTTP calls every scenario needs, with keys for each role."""

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

import httpx2 as httpx
from fastapi.testclient import TestClient

from testing.images import jpeg


class _Clock(Protocol):
    def __call__(self) -> datetime: ...


class SettledClient(TestClient):
    """A TestClient that, after each request, waits for the app's match worker to finish what
    the request queued: a test reads what a security analyst sees a moment after the receipt.
    Tests of that moment itself (tests/test_match_queue.py) use a plain TestClient."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        runtime = getattr(self.app.state, "runtime", None)  # type: ignore[attr-defined]
        if runtime is not None and not runtime.inbox.closed:
            assert runtime.inbox.wait_idle(60), "the match worker did not catch up in 60 s"
        return response


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Api:
    def __init__(self, client: TestClient, admin_key: str, clock: _Clock) -> None:
        self.client = client
        self.admin = admin_key
        self.clock = clock

    def create_key(self, role: str, name: str | None = None) -> str:
        response = self.client.post(
            "/v1/keys", json={"name": name or f"{role}-key", "role": role}, headers=auth(self.admin)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    @cached_property
    def marketing(self) -> str:
        return self.create_key("marketing")

    @cached_property
    def crawler(self) -> str:
        return self.create_key("crawler")

    @cached_property
    def security(self) -> str:
        return self.create_key("security")

    def register_asset(
        self,
        image: bytes | None = None,
        *,
        name: str = "Prototype front three-quarter",
        product: str = "SU7",
        embargo_in: timedelta = timedelta(days=30),
        key: str | None = None,
    ) -> httpx.Response:
        return self.client.post(
            "/v1/assets",
            files={"file": ("asset.jpg", image if image is not None else jpeg(1), "image/jpeg")},
            data={
                "name": name,
                "product": product,
                "embargo_until": (self.clock() + embargo_in).isoformat(),
            },
            headers=auth(key or self.marketing),
        )

    def asset(self, image: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self.register_asset(image, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def post_sighting(
        self,
        image: bytes,
        *,
        page_url: str = "https://news.example.com/scoop",
        image_url: str | None = "https://cdn.example.com/scoop.jpg",
        found_at: datetime | None = None,
        account: str | None = None,
        key: str | None = None,
        filename: str = "found.jpg",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        data = {"page_url": page_url}
        if image_url is not None:
            data["image_url"] = image_url
        if found_at is not None:
            data["found_at"] = found_at.isoformat()
        if account is not None:
            data["account"] = account
        return self.client.post(
            "/v1/sightings",
            files={"file": (filename, image, "application/octet-stream")},
            data=data,
            headers={**auth(key or self.crawler), **(headers or {})},
        )

    def sighting(self, image: bytes, **kwargs: Any) -> dict[str, Any]:
        response = self.post_sighting(image, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def leaks(self, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/v1/leaks", params=params, headers=auth(self.security))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def leak(self, leak_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/leaks/{leak_id}", headers=auth(self.security))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body
