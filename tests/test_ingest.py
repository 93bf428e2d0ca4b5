"""Crawler ingestion: batches, hash-only submissions, Idempotency-Key and deduplication."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlmodel import func, select

from service.detection.decode import ImageLimits
from service.ingest import sightings
from service.runtime import Runtime
from storage.models import IdempotencyRecord, Sighting
from testing.images import jpeg
from tests.api_client import Api, auth

LIMITS = ImageLimits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)


def stored_sightings(api: Api) -> int:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return session.exec(select(func.count()).select_from(Sighting)).one()


def post_batch(
    api: Api,
    manifest: Any,
    files: list[tuple[str, bytes]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/batch",
        files=[("files", (name, data, "image/jpeg")) for name, data in files],
        data={"manifest": manifest if isinstance(manifest, str) else json.dumps(manifest)},
        headers={**auth(api.crawler), **(headers or {})},
    )


def hash_only_item(image: bytes, page_url: str, **extra: Any) -> dict[str, Any]:
    local = sightings.fingerprint_locally(image, LIMITS)
    prints = [
        {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
        for f in local.prints.fingerprints
    ]
    return {"page_url": page_url, "sha256": local.sha256, "fingerprints": prints, **extra}


def post_hashes(
    api: Api, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/fingerprints",
        json={"items": items},
        headers={**auth(api.crawler), **(headers or {})},
    )


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


def test_batch_body_over_the_batch_limit_is_refused_before_it_is_read(api: Api) -> None:
    limit = api.client.app.state.runtime.settings.max_batch_bytes  # type: ignore[attr-defined]
    response = api.client.post(
        "/v1/sightings/batch",
        content=b"x" * 16,
        headers={
            **auth(api.crawler),
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(limit + 1),
        },
    )
    assert response.status_code == 413, response.text
    assert stored_sightings(api) == 0


def test_uploaded_files_are_kept_byte_for_byte_and_no_incoming_file_outlives_its_request(
    api: Api,
) -> None:
    """Files stream into incoming files of the blob store (api/uploads.py): the kept ones are
    linked into place, the refused ones deleted, and nothing is left in the incoming folder."""
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    good, broken, stray = jpeg(2), jpeg(3)[:400], jpeg(4)
    manifest = [
        {"filename": "good.jpg", "page_url": "https://blog.example.com/a"},
        {"filename": "broken.jpg", "page_url": "https://blog.example.com/b"},
    ]
    response = post_batch(
        api, manifest, [("good.jpg", good), ("broken.jpg", broken), ("stray.jpg", stray)]
    )
    single = api.sighting(jpeg(5))

    assert response.status_code == 200, response.text
    [kept] = [i["receipt"] for i in response.json()["items"] if i["outcome"] == "created"]
    assert blobs.get(kept["sha256"]) == good
    assert blobs.get(single["sha256"]) == jpeg(5)
    assert sorted(p.name for p in blobs.root.rglob("*") if p.is_file()) == sorted(
        [kept["sha256"], single["sha256"]]
    )
    assert not [p for p in blobs.incoming.rglob("*") if p.is_file()]


def test_uploaded_files_reach_the_decode_workers_as_files_not_bytes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoder = api.client.app.state.runtime.decoder  # type: ignore[attr-defined]
    handed: list[object] = []
    through = decoder.fingerprint_found_images

    def spy(files: list[object], limits: ImageLimits) -> object:
        handed.extend(files)
        return through(files, limits)

    monkeypatch.setattr(decoder, "fingerprint_found_images", spy)
    response = post_batch(
        api,
        [{"filename": "a.jpg", "page_url": "https://blog.example.com/a"}],
        [("a.jpg", jpeg(2))],
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    [file] = handed
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    assert isinstance(file, Path) and file.is_relative_to(blobs.incoming)


def multipart(image: bytes, page_url: str = "https://blog.example.com/a") -> bytes:
    """A single-sighting form written out by hand, as a crawler's HTTP library would send it."""
    return (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="page_url"\r\n\r\n'
        + page_url.encode()
        + b"\r\n--xyz\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--xyz--\r\n"
    )


def post_form(api: Api, body: bytes, content_type: str) -> httpx.Response:
    return api.client.post(
        "/v1/sightings", content=body, headers={**auth(api.crawler), "Content-Type": content_type}
    )


def test_a_form_cut_short_is_refused_and_leaves_no_incoming_file(api: Api) -> None:
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    whole = post_form(api, multipart(jpeg(2)), "multipart/form-data; boundary=xyz")
    cut = post_form(api, multipart(jpeg(3))[:-200], "multipart/form-data; boundary=xyz")

    assert whole.status_code == 201, whole.text  # the hand-written form is a good one
    assert cut.status_code == 400, cut.text
    assert cut.json()["type"].endswith(":malformed-form")
    assert stored_sightings(api) == 1
    assert not [p for p in blobs.incoming.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "text/plain"]
)
def test_a_body_that_is_not_a_bounded_form_is_refused(api: Api, content_type: str) -> None:
    response = post_form(api, multipart(jpeg(2)), content_type)

    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith(":malformed-form")
    assert stored_sightings(api) == 0


def test_files_under_names_the_route_does_not_take_are_not_written(api: Api) -> None:
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    response = api.client.post(
        "/v1/sightings",
        data={"page_url": "https://blog.example.com/a"},
        files=[("file", ("a.jpg", jpeg(2), "image/jpeg")), ("extra", ("b.jpg", jpeg(3)))],
        headers=auth(api.crawler),
    )

    assert response.status_code == 201, response.text
    assert sorted(p.name for p in blobs.root.rglob("*") if p.is_file()) == [
        response.json()["sha256"]
    ]
