"""Working a leak report: status transitions with history, assignment, notes, list filters."""

from datetime import timedelta
from typing import Any

from testing.images import jpeg
from tests.api_client import Api, auth
from tests.conftest import Clock


def _patch(api: Api, leak_id: str, **body: Any) -> Any:
    return api.client.patch(f"/v1/leaks/{leak_id}", json=body, headers=auth(api.security))


def test_confirming_a_leak_records_who_and_when(api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()

    response = _patch(api, leak["id"], status="confirmed", note="same car, same garage")

    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["status"] == "confirmed"
    last = detail["history"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "open",
        "confirmed",
        "security-key",
    )
    assert last["note"] == "same car, same garage"
    assert [n["note"] for n in detail["notes"]] == ["same car, same garage"]


def test_wrong_transition_is_a_conflict_and_changes_nothing(api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()

    response = _patch(api, leak["id"], status="takedown_requested")

    assert response.status_code == 409
    assert "cannot become takedown_requested" in response.json()["detail"]
    assert api.leak(leak["id"])["status"] == "open"
    assert len(api.leak(leak["id"])["history"]) == 1


def test_assignment_is_kept_and_logged(api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    detail = _patch(api, leak["id"], assignee="mei@legal").json()
    assert detail["assignee"] == "mei@legal"
    assert detail["history"][-1]["to_status"] == "open"


def test_sighting_after_leak_resolved_opens_a_new_report(api: Api, clock: Clock) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1), page_url="https://a.example.com/1")
    [leak] = api.leaks()
    assert _patch(api, leak["id"], status="resolved").status_code == 200
    clock.advance(timedelta(minutes=5))
    api.sighting(jpeg(1), page_url="https://b.example.com/2")

    reports = api.leaks()
    assert [r["status"] for r in reports] == ["open", "resolved"]
    assert reports[0]["first_source"]["domain"] == "b.example.com"


def test_leak_list_filters_by_status_product_domain_and_time(api: Api, clock: Clock) -> None:
    api.asset(jpeg(1), product="SU7")
    api.asset(jpeg(2), product="Phone 15")
    start = clock()
    api.sighting(jpeg(1), page_url="https://cars.example.com/a")
    clock.advance(timedelta(hours=1))
    api.sighting(jpeg(2), page_url="https://phones.example.com/b")
    car, phone = sorted(api.leaks(), key=lambda r: r["asset"]["product"] != "SU7")
    _patch(api, car["id"], status="confirmed")

    assert [r["id"] for r in api.leaks(product="SU7")] == [car["id"]]
    assert [r["id"] for r in api.leaks(domain="phones.example.com")] == [phone["id"]]
    assert [r["id"] for r in api.leaks(status="confirmed")] == [car["id"]]
    assert [r["id"] for r in api.leaks(asset_id=phone["asset"]["id"])] == [phone["id"]]
    until = (start + timedelta(minutes=30)).isoformat()
    assert [r["id"] for r in api.leaks(until=until)] == [car["id"]]
    since = (start + timedelta(minutes=30)).isoformat()
    assert [r["id"] for r in api.leaks(since=since)] == [phone["id"]]


def test_leak_list_pages_with_a_cursor_newest_activity_first(api: Api, clock: Clock) -> None:
    for seed in range(1, 6):
        api.asset(jpeg(seed))
    for seed in range(1, 6):
        clock.advance(timedelta(minutes=1))
        api.sighting(jpeg(seed), page_url=f"https://site{seed}.example.com/")

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/v1/leaks", params=params, headers=auth(api.security)).json()
        seen += [item["first_source"]["domain"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"site{seed}.example.com" for seed in range(5, 0, -1)]


def test_forged_cursor_is_a_bad_request(api: Api) -> None:
    response = api.client.get(
        "/v1/leaks", params={"cursor": "not-a-cursor"}, headers=auth(api.security)
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
