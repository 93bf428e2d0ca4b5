"""The core flow through the API: register, sight, report; and the embargo rule."""

from datetime import timedelta

from testing.images import encode, jpeg, photo
from tests.api_client import Api
from tests.conftest import Clock


def test_recompressed_copy_before_embargo_opens_a_leak(api: Api) -> None:
    asset = api.asset(jpeg(1))
    receipt = api.sighting(jpeg(1, quality=50))

    [leak] = api.leaks()
    assert leak["asset"]["id"] == asset["id"]
    assert leak["status"] == "open"
    assert leak["sightings_count"] == 1
    assert leak["first_source"]["page_url"] == "https://news.example.com/scoop"
    assert leak["domains"] == ["news.example.com"]
    detail = api.leak(leak["id"])
    assert [s["id"] for s in detail["sightings"]] == [receipt["id"]]
    assert detail["history"][0]["to_status"] == "open"


def test_unrelated_image_opens_nothing(api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(2))
    assert api.leaks() == []


def test_crawler_receipt_says_nothing_about_matches(api: Api) -> None:
    api.asset(jpeg(1))
    matched = api.sighting(jpeg(1))
    unmatched = api.sighting(jpeg(2))
    assert (
        set(matched)
        == set(unmatched)
        == {
            "id",
            "sha256",
            "received_at",
            "low_information",
            "duplicate",
        }
    )
    assert matched["low_information"] is None


def test_sighting_after_embargo_is_not_a_leak(api: Api, clock: Clock) -> None:
    api.asset(jpeg(1), embargo_in=timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    api.sighting(jpeg(1))
    assert api.leaks() == []


def test_moved_embargo_applies_to_later_sightings(api: Api, clock: Clock) -> None:
    asset = api.asset(jpeg(1), embargo_in=timedelta(hours=1))
    api.sighting(jpeg(1), page_url="https://early.example.com/a")
    moved = api.client.patch(
        f"/v1/assets/{asset['id']}",
        json={"embargo_until": (clock() + timedelta(days=10)).isoformat()},
        headers={"Authorization": f"Bearer {api.marketing}"},
    )
    assert moved.status_code == 200, moved.text
    clock.advance(timedelta(hours=2))  # past the old embargo, before the new one
    api.sighting(jpeg(1), page_url="https://late.example.com/b")

    [leak] = api.leaks()
    assert leak["sightings_count"] == 2
    assert leak["domains"] == ["early.example.com", "late.example.com"]


def test_embargo_moved_earlier_stops_later_leaks_but_keeps_earlier_ones(
    api: Api, clock: Clock
) -> None:
    asset = api.asset(jpeg(1), embargo_in=timedelta(days=10))
    api.sighting(jpeg(1), page_url="https://early.example.com/a")
    api.client.patch(
        f"/v1/assets/{asset['id']}",
        json={"embargo_until": clock().isoformat()},
        headers={"Authorization": f"Bearer {api.marketing}"},
    )
    clock.advance(timedelta(minutes=1))
    api.sighting(jpeg(1), page_url="https://late.example.com/b")

    [leak] = api.leaks()
    assert leak["sightings_count"] == 1
    assert leak["domains"] == ["early.example.com"]


def test_retired_asset_stops_matching(api: Api) -> None:
    asset = api.asset(jpeg(1))
    retired = api.client.patch(
        f"/v1/assets/{asset['id']}",
        json={"status": "retired"},
        headers={"Authorization": f"Bearer {api.marketing}"},
    )
    assert retired.json()["status"] == "retired"
    api.sighting(jpeg(1))
    assert api.leaks() == []


def test_first_source_is_earliest_publisher_across_pages(api: Api, clock: Clock) -> None:
    api.asset(jpeg(1))
    published = clock() - timedelta(hours=5)
    api.sighting(jpeg(1), page_url="https://aggregator.example.net/p/1")
    clock.advance(timedelta(minutes=3))
    api.sighting(
        jpeg(1, quality=70),
        page_url="https://www.origin-media.example/story",
        found_at=published,
        account="insider_cars",
    )
    clock.advance(timedelta(minutes=3))
    api.sighting(encode(photo(1).resize((320, 240))), page_url="https://forum.example.org/t/9")

    [leak] = api.leaks()
    assert leak["sightings_count"] == 3
    assert leak["first_source"]["domain"] == "origin-media.example"
    assert leak["first_source"]["account"] == "insider_cars"
    assert leak["first_seen_at"] == published.isoformat().replace("+00:00", "Z")
    assert leak["domains"] == [
        "aggregator.example.net",
        "forum.example.org",
        "origin-media.example",
    ]
    detail = api.leak(leak["id"])
    assert [s["domain"] for s in detail["sightings"]] == [
        "origin-media.example",
        "aggregator.example.net",
        "forum.example.org",
    ]
    assert detail["lead_time_seconds"] > 30 * 24 * 3600


def test_png_copy_of_second_asset_leaks_only_that_asset(api: Api) -> None:
    api.asset(jpeg(1), name="front")
    rear = api.asset(jpeg(5), name="rear")
    api.sighting(encode(photo(5), "PNG"))
    [leak] = api.leaks()
    assert leak["asset"]["id"] == rear["id"]
