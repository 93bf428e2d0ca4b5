"""The security desk end to end: three assets leaking from several sites, triage that teaches the
matcher, reports naming the first publisher, and sources ranking the repeat offender first."""

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.evidence import bundle_check
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.conftest import Clock


def leak_of(api: Api, asset_id: str) -> dict[str, Any]:
    [leak] = api.leaks(asset_id=asset_id)
    return leak


@dataclass(frozen=True)
class Tampered:
    data: bytes
    name: str


def one_image_byte_changed(bundle: bytes) -> Tampered:
    with zipfile.ZipFile(io.BytesIO(bundle)) as original:
        members = [(info, original.read(info)) for info in original.infolist()]
    victim = next(info.filename for info, _ in members if info.filename.startswith("images/"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as copy:
        for info, data in members:
            if info.filename == victim:
                data = data[:100] + bytes([data[100] ^ 0x01]) + data[101:]
            copy.writestr(info, data)
    return Tampered(out.getvalue(), victim)


def patch_leak(api: Api, leak_id: str, **body: Any) -> dict[str, Any]:
    response = api.client.patch(f"/v1/leaks/{leak_id}", json=body, headers=auth(api.security))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_three_assets_leaking_from_several_sites(api: Api, clock: Clock) -> None:
    front, rear, cabin = (api.asset(jpeg(seed), name=f"asset {seed}") for seed in (21, 22, 23))
    t0 = clock()

    # The front view: a forum publishes first (by its own page date), a news site and the
    # forum's mirror follow; the news site's crawler came by first, though.
    clock.advance(timedelta(minutes=5))
    api.sighting(
        jpeg(21, quality=60),
        page_url="https://news.example.com/su7-first-look",
        found_at=t0 + timedelta(minutes=3),
    )
    clock.advance(timedelta(minutes=5))
    api.sighting(
        jpeg(21, quality=50),
        page_url="https://forum.example.org/t/991",
        account="carspy",
        found_at=t0 + timedelta(minutes=1),
    )
    clock.advance(timedelta(minutes=5))
    api.sighting(jpeg(21, quality=40), page_url="https://forum.example.org/t/992", account="carspy")

    # The rear view: the same forum account again, then a blog.
    api.sighting(jpeg(22, quality=60), page_url="https://forum.example.org/t/993", account="carspy")
    clock.advance(timedelta(minutes=5))
    api.sighting(jpeg(22, quality=55), page_url="https://blog.example.net/rear")

    # The cabin: a wallpaper site whose picture security rules a false positive.
    api.sighting(jpeg(23, quality=60), page_url="https://walls.example.com/123")

    front_leak = leak_of(api, front["id"])
    assert front_leak["first_source"]["page_url"] == "https://forum.example.org/t/991"
    assert front_leak["first_source"]["account"] == "carspy"
    assert datetime.fromisoformat(front_leak["first_seen_at"]) == t0 + timedelta(minutes=1)
    assert datetime.fromisoformat(front_leak["first_source"]["received_at"]) == t0 + timedelta(
        minutes=10
    )
    assert front_leak["sightings_count"] == 3
    assert front_leak["domains"] == ["forum.example.org", "news.example.com"]
    assert front_leak["lead_time_seconds"] > 0

    cabin_leak = leak_of(api, cabin["id"])
    patch_leak(api, cabin_leak["id"], status="false_positive", note="stock wallpaper")
    patch_leak(api, front_leak["id"], status="confirmed", assignee="legal")

    # The dismissed picture comes back, re-encoded, on another site: nothing reopens.
    clock.advance(timedelta(minutes=5))
    api.sighting(jpeg(23, quality=45), page_url="https://other-walls.example.com/9")
    cabin_leaks = api.leaks(asset_id=cabin["id"])
    assert [(leak["id"], leak["status"]) for leak in cabin_leaks] == [
        (cabin_leak["id"], "false_positive")
    ]
    assert leak_of(api, cabin["id"])["sightings_count"] == 1

    # A confirmed leak keeps growing.
    api.sighting(jpeg(21, quality=70), page_url="https://mirror.example.com/su7")
    front_leak = leak_of(api, front["id"])
    assert front_leak["status"] == "confirmed"
    assert front_leak["sightings_count"] == 4

    listing = api.client.get("/v1/leaks", headers=auth(api.security)).json()
    assert listing["totals"] == {
        "open": 1,
        "confirmed": 1,
        "false_positive": 1,
        "takedown_requested": 0,
        "resolved": 0,
    }
    earliest = api.client.get(
        "/v1/leaks", params={"sort": "first_seen"}, headers=auth(api.security)
    ).json()["items"]
    assert earliest[0]["id"] == front_leak["id"]

    sources = api.client.get("/v1/sources", headers=auth(api.security))
    assert sources.status_code == 200, sources.text
    ranked = [(s["domain"], s["account"], s["leaks"]) for s in sources.json()["items"]]
    assert ranked[0] == ("forum.example.org", "carspy", 2)
    top = sources.json()["items"][0]
    assert top["first_publisher_count"] == 2  # first on the front and the rear view
    assert top["sightings"] == 3
    # The false positive's site is not a source of leaks.
    assert all(s[0] != "walls.example.com" for s in ranked)

    forum = api.client.get("/v1/sources/forum.example.org", headers=auth(api.security)).json()
    assert {leak["asset"]["id"] for leak in forum["items"]} == {front["id"], rear["id"]}

    # The confirmed leak's evidence verifies, and stops verifying once one image byte changes.
    bundle = api.client.get(f"/v1/leaks/{front_leak['id']}/evidence", headers=auth(api.security))
    assert bundle.status_code == 200, bundle.text
    report = bundle_check.verify_bundle(io.BytesIO(bundle.content))
    assert report.verifies, report.fault
    assert report.records == 4
    tampered = one_image_byte_changed(bundle.content)
    report = bundle_check.verify_bundle(io.BytesIO(tampered.data))
    assert report.fault is not None and report.fault.entry == tampered.name


def test_leak_list_pages_in_either_order_without_repeats(api: Api, clock: Clock) -> None:
    for seed in range(31, 36):
        api.asset(jpeg(seed), name=f"asset {seed}")
    for seed in range(31, 36):
        clock.advance(timedelta(minutes=1))
        api.sighting(jpeg(seed, quality=60), page_url=f"https://s{seed}.example.com/")
    for sort in ("activity", "first_seen"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            body = api.client.get("/v1/leaks", params=params, headers=auth(api.security)).json()
            seen += [leak["first_source"]["domain"] for leak in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        expected = [f"s{seed}.example.com" for seed in range(31, 36)]
        assert seen == (expected if sort == "first_seen" else expected[::-1])


def test_a_cursor_of_one_order_is_refused_by_the_other(api: Api) -> None:
    for seed in (41, 42):
        api.asset(jpeg(seed), name=f"asset {seed}")
        api.sighting(jpeg(seed, quality=60), page_url=f"https://t{seed}.example.com/")
    first = api.client.get("/v1/leaks", params={"limit": 1}, headers=auth(api.security)).json()
    response = api.client.get(
        "/v1/leaks",
        params={"sort": "first_seen", "cursor": first["next_cursor"]},
        headers=auth(api.security),
    )
    assert response.status_code == 400, response.text
