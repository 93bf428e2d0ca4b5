"""A leak's sightings, paged: the first page in the detail, the rest through
/v1/leaks/{id}/sightings and the dashboard's next-page link, the evidence bundle still whole."""

import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from service.paging import MAX_LIMIT
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.conftest import Clock
from tests.evidence import download, read_manifest
from tests.ingest_calls import hash_only_item, post_hashes
from tests.ui_client import sign_in

# More than the largest page, so that even an uncapped `limit` cannot take them in one page.
BATCHES = (100, 100, 40)
TOTAL = sum(BATCHES)
DEFAULT_PAGE = 50  # LEAKSENTINEL_LEAK_SIGHTINGS_PAGE_SIZE's default


def page_url(n: int) -> str:
    return f"https://leak{n % 9}.example.com/p/{n}"


def many_sightings(api: Api, clock: Clock) -> str:
    """One leak seen TOTAL times, in batches received a minute apart. Claimed publication times
    repeat within and across batches, and some are missing (the receive time stands in), so the
    order meets ties on the publication time and on the receive time."""
    api.asset(jpeg(1))
    item = hash_only_item(jpeg(1, quality=60), page_url(0))
    start = clock()
    n = 0
    for size in BATCHES:
        items = []
        for _ in range(size):
            found = None if n % 5 == 0 else start - timedelta(hours=n % 7)
            extra = {"found_at": found.isoformat()} if found else {}
            items.append({**item, "page_url": page_url(n), **extra})
            n += 1
        response = post_hashes(api, items)
        assert response.status_code == 200, response.text
        clock.advance(timedelta(minutes=1))
    [leak] = api.leaks()
    assert leak["sightings_count"] == TOTAL
    return str(leak["id"])


def publication_order(sighting: dict[str, Any]) -> tuple[datetime, datetime, UUID]:
    received = datetime.fromisoformat(sighting["received_at"])
    published = datetime.fromisoformat(sighting["found_at"]) if sighting["found_at"] else received
    return published, received, UUID(sighting["id"])


def sightings_page(api: Api, leak_id: str, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/leaks/{leak_id}/sightings", params=params, headers=auth(key or api.security)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body


def walk(api: Api, leak_id: str, cursor: str | None, limit: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while cursor is not None:
        page = sightings_page(api, leak_id, cursor=cursor, limit=limit)
        assert 0 < len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
    return seen


def test_a_leak_with_many_sightings_is_paged(api: Api, clock: Clock) -> None:
    leak_id = many_sightings(api, clock)
    detail = api.leak(leak_id)

    assert len(detail["sightings"]) == DEFAULT_PAGE
    assert detail["sightings_next_cursor"] is not None
    # The summary counts every sighting, not the page's.
    assert detail["sightings_count"] == TOTAL
    [listed] = api.leaks()
    assert {field: detail[field] for field in listed} == listed
    # The earliest publication heads the first page (several sources share that instant here).
    first = detail["sightings"][0]
    assert detail["first_seen_at"] == first["found_at"] == detail["first_source"]["found_at"]

    uncapped = sightings_page(api, leak_id, limit=10 * TOTAL)
    assert len(uncapped["items"]) == MAX_LIMIT
    assert uncapped["items"][:DEFAULT_PAGE] == detail["sightings"]


def test_the_cursor_walk_returns_every_sighting_once_oldest_publication_first(
    api: Api, clock: Clock
) -> None:
    leak_id = many_sightings(api, clock)
    detail = api.leak(leak_id)

    seen = detail["sightings"] + walk(api, leak_id, detail["sightings_next_cursor"], limit=17)

    ids = [s["id"] for s in seen]
    assert len(ids) == len(set(ids)) == TOTAL
    assert {s["page_url"] for s in seen} == {page_url(n) for n in range(TOTAL)}
    assert seen == sorted(seen, key=publication_order)
    # The same walk from the sightings route's own first page.
    from_start = sightings_page(api, leak_id, limit=33)
    rest = walk(api, leak_id, from_start["next_cursor"], limit=33)
    assert from_start["items"] + rest == seen


def test_a_page_ends_where_the_sightings_do(api: Api, clock: Clock) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1, quality=60))
    [leak] = api.leaks()
    detail = api.leak(leak["id"])
    assert len(detail["sightings"]) == 1
    assert detail["sightings_next_cursor"] is None
    assert sightings_page(api, leak["id"]) == {
        "items": detail["sightings"],
        "next_cursor": None,
    }


def test_the_evidence_bundle_still_holds_every_sighting(api: Api, clock: Clock) -> None:
    leak_id = many_sightings(api, clock)
    detail = api.leak(leak_id)
    seen = detail["sightings"] + walk(api, leak_id, detail["sightings_next_cursor"], MAX_LIMIT)

    manifest = read_manifest(download(api, leak_id))

    assert [s["record"]["id"] for s in manifest["sightings"]] == [s["id"] for s in seen]
    assert manifest["leak"]["sightings_count"] == TOTAL


@pytest.mark.parametrize("role", ["crawler", "marketing"])
def test_a_crawler_or_marketing_key_gets_403_on_a_leaks_sightings(
    api: Api, clock: Clock, role: str
) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1, quality=60))
    [leak] = api.leaks()
    key = api.crawler if role == "crawler" else api.marketing

    response = api.client.get(f"/v1/leaks/{leak['id']}/sightings", headers=auth(key))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert sightings_page(api, leak["id"], key=api.admin)["items"]


def test_an_unknown_leak_has_no_sightings_to_page(api: Api) -> None:
    response = api.client.get(f"/v1/leaks/{uuid4()}/sightings", headers=auth(api.security))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_a_bad_cursor_gets_a_4xx_problem(api: Api, clock: Clock) -> None:
    leak_id = many_sightings(api, clock)
    other = api.asset(jpeg(2), name="other")
    api.sighting(jpeg(2, quality=60), page_url="https://other.example.com/x")
    [other_leak] = api.leaks(asset_id=other["id"])
    foreign = sightings_page(api, leak_id, limit=1)["next_cursor"]
    list_cursor = api.client.get(
        "/v1/leaks", params={"limit": 1}, headers=auth(api.security)
    ).json()["next_cursor"]
    assert foreign and list_cursor

    for cursor in ("garbage!", "W10", list_cursor, foreign[:-4]):
        response = api.client.get(
            f"/v1/leaks/{leak_id}/sightings", params={"cursor": cursor}, headers=auth(api.security)
        )
        assert response.status_code == 400, (cursor, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # A cursor names its leak: it is refused on another one rather than read as a place there.
    replayed = api.client.get(
        f"/v1/leaks/{other_leak['id']}/sightings",
        params={"cursor": foreign},
        headers=auth(api.security),
    )
    assert replayed.status_code == 400
    zero = api.client.get(
        f"/v1/leaks/{leak_id}/sightings", params={"limit": 0}, headers=auth(api.security)
    )
    assert zero.status_code == 422


def sightings_table(html: str) -> str:
    return html.split('<table class="grid sightings">')[1].split("</table>")[0]


def test_the_dashboard_pages_a_leaks_sightings(client: TestClient, api: Api, clock: Clock) -> None:
    leak_id = many_sightings(api, clock)
    detail = api.leak(leak_id)
    expected = [
        s["page_url"]
        for s in detail["sightings"]
        + walk(api, leak_id, detail["sightings_next_cursor"], MAX_LIMIT)
    ]
    assert sign_in(client, api.security).status_code == 303

    shown: list[str] = []
    pages = 0
    url: str | None = f"/ui/leaks/{leak_id}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        table = sightings_table(response.text)
        on_page = re.findall(r'<a class="url" href="(https://leak\d\.example\.com/p/\d+)"', table)
        assert len(on_page) == min(DEFAULT_PAGE, TOTAL - len(shown))
        assert ('class="first"' in table) == (pages == 0)
        shown += on_page
        pages += 1
        more = re.search(
            r'href="(/ui/leaks/[^"?]+\?cursor=[^"]+)">Next page of sightings', response.text
        )
        url = more.group(1).replace("&amp;", "&") if more else None
    assert shown == expected
    assert pages == -(-TOTAL // DEFAULT_PAGE)
    assert client.get(f"/ui/leaks/{leak_id}", params={"cursor": "garbage!"}).status_code == 400
