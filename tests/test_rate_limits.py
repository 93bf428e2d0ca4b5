"""Rate limits per API key, set by role: 429 with Retry-After over the limit, one budget per key.

The limiter's clock is a counter the tests move, so a minute passes without sleeping."""

from collections.abc import Iterator
from uuid import uuid4

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from service.access.actors import Actor, Role
from service.access.ratelimit import RateLimiter
from service.errors import RateLimited
from service.runtime import Runtime
from service.settings import Settings
from testing.images import jpeg
from tests.api_client import Api, auth

PROBLEM_JSON = "application/problem+json"
CRAWLER_LIMIT = 3  # one request every 20 s, a burst of 3
SECURITY_LIMIT = 600


class Ticks:
    """A monotonic clock in seconds that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Admin and marketing unlimited (0), so the tests' set-up spends no budget.
    return settings.model_copy(
        update={
            "rate_limit_crawler": CRAWLER_LIMIT,
            "rate_limit_security": SECURITY_LIMIT,
            "rate_limit_marketing": 0,
            "rate_limit_admin": 0,
        }
    )


@pytest.fixture
def ticks(client: TestClient, settings: Settings) -> Iterator[Ticks]:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    ticks = Ticks()
    runtime.rate_limiter = RateLimiter.from_settings(settings, clock=ticks)
    yield ticks


def _assert_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["type"] == "urn:leaksentinel:problem:rate-limited"
    assert body["status"] == 429
    assert body["retry_after"] == retry_after
    assert "crawler key" in body["detail"]


def test_over_the_limit_gets_429_changes_nothing_and_works_again_after_the_wait(
    api: Api, ticks: Ticks
) -> None:
    api.asset(jpeg(1))
    for seed in (2, 3, 4):
        api.sighting(jpeg(seed), page_url=f"https://a.example.com/{seed}")
    leaking = dict(page_url="https://gossip.example.com/first")

    refused = api.post_sighting(jpeg(1), **leaking)
    _assert_limited(refused, retry_after=20)
    assert api.leaks() == []  # no sighting stored, no leak opened

    ticks.advance(19)
    _assert_limited(api.post_sighting(jpeg(1), **leaking), retry_after=1)

    ticks.advance(1)
    receipt = api.sighting(jpeg(1), **leaking)
    assert receipt["duplicate"] is False  # the refused uploads left nothing behind
    assert len(api.leaks()) == 1
    # One request's worth refilled, no more.
    _assert_limited(api.post_sighting(jpeg(5)), retry_after=20)


def test_a_flooding_crawler_does_not_limit_the_security_key(api: Api, ticks: Ticks) -> None:
    crawler, security = api.crawler, api.security
    statuses = []
    for n in range(40):
        flood = api.client.post(
            "/v1/sightings", headers=auth(crawler), data={"page_url": f"https://x.example/{n}"}
        )
        statuses.append(flood.status_code)
        read = api.client.get("/v1/leaks", headers=auth(security))
        assert read.status_code == 200, read.text
    # The first three were counted and refused for lacking a file; the rest were never let in.
    assert statuses[:CRAWLER_LIMIT] == [422] * CRAWLER_LIMIT
    assert set(statuses[CRAWLER_LIMIT:]) == {429}


def test_limits_are_per_key_not_per_role(api: Api, ticks: Ticks) -> None:
    first, second = api.create_key("crawler", "first"), api.create_key("crawler", "second")
    for seed in range(CRAWLER_LIMIT):
        api.sighting(jpeg(10 + seed), key=first, page_url=f"https://one.example/{seed}")
    _assert_limited(api.post_sighting(jpeg(20), key=first), retry_after=20)
    for seed in range(CRAWLER_LIMIT):
        api.sighting(jpeg(30 + seed), key=second, page_url=f"https://two.example/{seed}")
    _assert_limited(api.post_sighting(jpeg(40), key=second), retry_after=20)


def test_unauthenticated_requests_spend_no_budget(api: Api, ticks: Ticks) -> None:
    crawler = api.crawler
    for n in range(10):
        assert api.post_sighting(jpeg(50), key=f"lsk_guess_{n}").status_code == 401
        assert (
            api.client.post("/v1/sightings", data={"page_url": "https://x.example/"}).status_code
            == 401
        )
    for seed in range(CRAWLER_LIMIT):
        api.sighting(jpeg(60 + seed), key=crawler, page_url=f"https://y.example/{seed}")
    _assert_limited(api.post_sighting(jpeg(70), key=crawler), retry_after=20)


# The limiter alone: no database, no HTTP.


def _actor(role: Role = Role.CRAWLER) -> Actor:
    return Actor(key_id=uuid4(), name="k", role=role)


def test_limiter_allows_the_burst_then_the_steady_rate() -> None:
    ticks = Ticks()
    limiter = RateLimiter({Role.CRAWLER: 7}, clock=ticks)  # 60 / 7 s is not exact in floats
    actor = _actor()
    for _ in range(7):
        limiter.check(actor)
    with pytest.raises(RateLimited) as refused:
        limiter.check(actor)
    assert refused.value.retry_after == 9  # ceil(60 / 7)
    for _ in range(20):
        ticks.advance(60 / 7)
        limiter.check(actor)
        with pytest.raises(RateLimited):
            limiter.check(actor)


def test_limiter_zero_means_unlimited_and_a_keyless_caller_is_not_limited() -> None:
    limiter = RateLimiter({Role.CRAWLER: 1, Role.SECURITY: 0}, clock=Ticks())
    security = _actor(Role.SECURITY)
    for _ in range(1000):
        limiter.check(security)
    system = Actor(key_id=None, name="system", role=Role.CRAWLER)
    for _ in range(10):
        limiter.check(system)


def test_limiter_after_a_long_idle_gives_one_burst_not_more() -> None:
    ticks = Ticks()
    limiter = RateLimiter({Role.CRAWLER: 2}, clock=ticks)
    actor = _actor()
    limiter.check(actor)
    ticks.advance(3600)
    limiter.check(actor)
    limiter.check(actor)
    with pytest.raises(RateLimited) as refused:
        limiter.check(actor)
    assert refused.value.retry_after == 30
