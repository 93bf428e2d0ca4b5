"""Crawler ingestion: batches, hash-only submissions, Idempotency-Key and deduplication."""

import json
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import func, select

from service.ingest import sightings
from service.runtime import Runtime
from storage.models import IdempotencyRecord
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.ingest_calls import LIMITS, hash_only_item, post_batch, post_hashes, stored_sightings


def test_batch_stores_good_items_and_answers_a_problem_for_each_bad_one(api: Api) -> None:
    asset = api.asset(jpeg(1))
    manifest = [
        {"filename": "leak.jpg", "page_url": "https://blog.example.com/su7"},
        {"filename": "other.jpg", "page_url": "https://blog.example.com/cats"},
        {"filename": "broken.jpg", "page_url": "https://blog.example.com/broken"},
        {"filename": "leak.jpg", "page_url": "javascript:alert(1)"},
        {"filename": "absent.jpg", "page_url": "https://blog.example.com/absent"},
        {"page_url": "https://blog.example.com/no-filename"},
    ]
    files = [
        ("leak.jpg", jpeg(1, quality=60)),
        ("other.jpg", jpeg(2)),
        ("broken.jpg", jpeg(3)[:400]),
        ("stray.jpg", jpeg(4)),
    ]
    response = post_batch(api, manifest, files)

    assert response.status_code == 200, response.text
    body = response.json()
    outcomes = [(i["index"], i["filename"], i["outcome"]) for i in body["items"]]
    assert outcomes == [
        (0, "leak.jpg", "created"),
        (1, "other.jpg", "created"),
        (2, "broken.jpg", "rejected"),
        (3, "leak.jpg", "rejected"),
        (4, "absent.jpg", "rejected"),
        (5, None, "rejected"),
        (6, "stray.jpg", "rejected"),
    ]
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    problems = {i["index"]: i["problem"] for i in body["items"] if i["problem"]}
    assert problems[2]["status"] == 422 and problems[2]["type"].endswith("image-rejected")
    assert "page_url" in problems[3]["detail"]
    assert "absent.jpg" in problems[4]["detail"]
    assert "filename" in problems[5]["detail"]
    assert "not named in the manifest" in problems[6]["detail"]
    assert all(p["status"] == 422 for p in problems.values())
    assert stored_sightings(api) == 2

    [leak] = api.leaks()
    assert leak["asset"]["id"] == asset["id"]
    assert leak["first_source"]["page_url"] == "https://blog.example.com/su7"
    trail = api.client.get(
        "/v1/audit", params={"action": "sighting.batch"}, headers=auth(api.admin)
    ).json()["items"]
    assert [e["detail"] for e in trail] == [{"created": 2, "duplicates": 0, "rejected": 5}]


def test_batch_manifest_that_is_not_a_json_list_is_refused_whole(api: Api) -> None:
    for manifest in ("{not json", json.dumps({"filename": "a.jpg"})):
        response = post_batch(api, manifest, [("a.jpg", jpeg(1))])
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert stored_sightings(api) == 0


def test_batch_over_the_item_limit_is_refused_whole(api: Api) -> None:
    limit = api.client.app.state.runtime.settings.max_batch_items  # type: ignore[attr-defined]
    manifest = [
        {"filename": "a.jpg", "page_url": f"https://x.example.com/{n}"} for n in range(limit + 1)
    ]
    response = post_batch(api, manifest, [("a.jpg", jpeg(1))])
    assert response.status_code == 422, response.text
    assert str(limit) in response.json()["detail"]
    assert stored_sightings(api) == 0


def test_hash_only_submission_opens_a_leak(api: Api) -> None:
    asset = api.asset(jpeg(1))
    item = hash_only_item(jpeg(1, quality=50), "https://forum.example.com/t/42", account="mole")
    response = post_hashes(api, [item])

    assert response.status_code == 200, response.text
    [result] = response.json()["items"]
    assert result["outcome"] == "created"
    assert result["receipt"]["sha256"] == item["sha256"]
    [leak] = api.leaks()
    assert leak["asset"]["id"] == asset["id"]
    assert leak["first_source"]["page_url"] == "https://forum.example.com/t/42"
    assert leak["first_source"]["account"] == "mole"
    [seen] = api.leak(leak["id"])["sightings"]
    assert seen["sha256"] == item["sha256"]


def test_concurrent_submissions_of_one_leaked_image_join_one_report(api: Api) -> None:
    # Concurrent requests are written in one transaction where they queue together, and their
    # matches decided together at its commit: one report, every sighting in it, in any case.
    asset = api.asset(jpeg(1))
    items = [
        hash_only_item(jpeg(1, quality=q), f"https://site{q}.example/p") for q in range(40, 80, 5)
    ]
    with ThreadPoolExecutor(len(items)) as pool:
        responses = list(pool.map(lambda item: post_hashes(api, [item]), items))

    assert [r.status_code for r in responses] == [200] * len(items)
    [leak] = api.leaks()
    assert leak["asset"]["id"] == asset["id"]
    detail = api.leak(leak["id"])
    assert detail["sightings_count"] == len(items)
    assert {s["sha256"] for s in detail["sightings"]} == {i["sha256"] for i in items}


def test_hash_only_items_are_checked_one_by_one(api: Api) -> None:
    good = hash_only_item(jpeg(2), "https://a.example.com/1")
    bad_hex = {
        **good,
        "page_url": "https://a.example.com/2",
        "fingerprints": [{"algorithm": "pdq", "variant": "original", "hex": "zz" * 32}],
    }
    bad_sha = {**good, "page_url": "https://a.example.com/3", "sha256": "ABC"}
    one_algorithm = {
        "page_url": "https://a.example.com/4",
        "fingerprints": [f for f in good["fingerprints"] if f["algorithm"] == "pdq"],
    }
    response = post_hashes(api, [good, bad_hex, bad_sha, one_algorithm])

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["outcome"] for i in items] == ["created", "rejected", "rejected", "created"]
    assert items[1]["problem"]["type"].endswith("invalid-fingerprint")
    assert "sha256" in items[2]["problem"]["detail"]
    # Without a pHash beside the PDQ hash no region can be searched: said, not hidden.
    assert items[3]["receipt"]["low_information"] == "unsearchable"
    assert stored_sightings(api) == 2


def test_idempotent_replay_answers_the_first_receipt_and_stores_nothing_twice(api: Api) -> None:
    api.asset(jpeg(1))
    key = {"Idempotency-Key": "crawl-7f3a-0001"}
    first = api.post_sighting(jpeg(1), headers=key)
    again = api.post_sighting(jpeg(1), headers=key)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert stored_sightings(api) == 1
    [leak] = api.leaks()
    assert leak["sightings_count"] == 1


def test_idempotent_batch_replay_gives_the_same_answer(api: Api) -> None:
    key = {"Idempotency-Key": "batch-0001"}
    manifest = [{"filename": "a.jpg", "page_url": "https://b.example.com/a"}]
    first = post_batch(api, manifest, [("a.jpg", jpeg(5))], key)
    again = post_batch(api, manifest, [("a.jpg", jpeg(5))], key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["items"][0]["outcome"] == "created"
    assert stored_sightings(api) == 1


def test_idempotency_key_reused_with_another_body_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": "crawl-7f3a-0002"}
    assert api.post_sighting(jpeg(1), headers=key).status_code == 201
    other_image = api.post_sighting(jpeg(2), headers=key)
    other_page = api.post_sighting(jpeg(1), page_url="https://else.example.com/", headers=key)
    other_route = post_hashes(api, [hash_only_item(jpeg(1), "https://x.example.com/")], key)

    for response in (other_image, other_page, other_route):
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("idempotency-key-reused")
    assert stored_sightings(api) == 1


def test_idempotency_keys_belong_to_the_key_that_used_them(api: Api) -> None:
    header = {"Idempotency-Key": "shared-name"}
    other_crawler = api.create_key("crawler", "second-crawler")
    assert api.post_sighting(jpeg(1), headers=header).status_code == 201
    response = api.post_sighting(jpeg(2), headers=header, key=other_crawler)
    assert response.status_code == 201, response.text
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        assert session.exec(select(func.count()).select_from(IdempotencyRecord)).one() == 2


def test_same_bytes_from_the_same_page_count_once(api: Api) -> None:
    api.asset(jpeg(1))
    first = api.post_sighting(jpeg(1, quality=70), page_url="https://news.example.com/a?id=3")
    # The same page, as another link to it would spell it: tracking parameter, fragment, case.
    again = api.post_sighting(
        jpeg(1, quality=70), page_url="https://NEWS.example.com/a?utm_source=tw&id=3#top"
    )

    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    [leak] = api.leaks()
    assert leak["sightings_count"] == 1


def test_same_bytes_from_a_new_page_are_a_new_source_of_that_leak(api: Api) -> None:
    api.asset(jpeg(1))
    copy = jpeg(1, quality=70)
    api.sighting(copy, page_url="https://news.example.com/a")
    api.sighting(copy, page_url="https://mirror.example.org/b")

    [leak] = api.leaks()
    assert leak["sightings_count"] == 2
    assert sorted(leak["domains"]) == ["mirror.example.org", "news.example.com"]
    assert {s["sha256"] for s in api.leak(leak["id"])["sightings"]} == {
        sightings.fingerprint_locally(copy, LIMITS).sha256
    }


def test_duplicates_inside_one_batch_are_stored_once(api: Api) -> None:
    manifest = [
        {"filename": "a.jpg", "page_url": "https://c.example.com/p"},
        {"filename": "b.jpg", "page_url": "https://c.example.com/p#again"},
    ]
    response = post_batch(api, manifest, [("a.jpg", jpeg(6)), ("b.jpg", jpeg(6))])
    items = response.json()["items"]
    assert [i["outcome"] for i in items] == ["created", "duplicate"]
    assert items[0]["receipt"]["id"] == items[1]["receipt"]["id"]
    assert stored_sightings(api) == 1


def test_malformed_hash_only_bodies_are_refused_and_store_nothing(api: Api) -> None:
    headers = {**auth(api.crawler), "Content-Type": "application/json"}
    cases = {
        "{not json": 400,
        "[]": 422,
        '{"items": []}': 422,
        '{"items": [{"fingerprints": []}]}': 422,
        '{"items": [{"page_url": "https://a.example.com/", "fingerprints": "ab"}]}': 422,
    }
    for body, status in cases.items():
        response = api.client.post("/v1/sightings/fingerprints", content=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert stored_sightings(api) == 0


def test_bad_idempotency_keys_are_refused(api: Api) -> None:
    for key in ("", "x" * 256, "bell\x07"):
        response = api.post_sighting(jpeg(1), headers={"Idempotency-Key": key})
        assert response.status_code == 422, (key, response.text)
        assert "Idempotency-Key" in response.json()["detail"]
    assert stored_sightings(api) == 0
