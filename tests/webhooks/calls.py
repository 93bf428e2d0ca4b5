"""What the webhook tests share: quick outbox settings, apps, endpoints, leaks, deliveries."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from api.app import create_app
from service.runtime import Runtime
from service.settings import Settings
from testing.images import jpeg
from tests.api_client import Api, SettledClient, auth
from tests.conftest import Clock

PROBLEM_JSON = "application/problem+json"
EVENTS = ["leak.opened", "leak.updated"]
# Short enough for a test to see every retry, long enough to tell a backoff from none.
RETRY_BASE_SECONDS = 0.05


@contextmanager
def running_app(
    settings: Settings, clock: Clock, bootstrap_key: str, **changes: Any
) -> Iterator[Api]:
    """Another app on the same database, with some settings changed."""
    app = create_app(settings.model_copy(update=changes), clock=clock)
    with SettledClient(app, raise_server_exceptions=False) as client:
        yield Api(client, bootstrap_key, clock)


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def register(
    api: Api, url: str, events: list[str] | None = None, key: str | None = None
) -> dict[str, Any]:
    response = api.client.post(
        "/v1/webhooks",
        json={"url": url, "events": EVENTS if events is None else events},
        headers=auth(key or api.security),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def open_leak(api: Api) -> tuple[str, str]:
    """A crawler posts a copy of a registered asset: one leak opens. Returns (leak, asset)."""
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks(asset_id=asset["id"])
    return str(leak["id"]), str(asset["id"])


def triage(api: Api, leak_id: str, **change: Any) -> None:
    response = api.client.patch(f"/v1/leaks/{leak_id}", json=change, headers=auth(api.security))
    assert response.status_code == 200, response.text


def deliveries(api: Api, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", params=params, headers=auth(api.security)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def webhook(api: Api, webhook_id: str) -> dict[str, Any]:
    response = api.client.get("/v1/webhooks", headers=auth(api.security))
    assert response.status_code == 200, response.text
    [found] = [h for h in response.json()["items"] if h["id"] == webhook_id]
    return dict(found)


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert {"type", "title", "status", "detail"} <= set(response.json())
