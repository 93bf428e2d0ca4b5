"""Malformed and hostile JSON bodies (long lists, many values, deep nesting): small 4xx answers."""

import threading
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest

from service.settings import MAX_BATCH_ITEMS, Settings
from tests.api_client import Api, auth
from tests.bad_input.calls import (
    PDQ_HEX,
    PROBLEM_JSON,
    assert_problem,
    image,
    post_fingerprints,
    stored,
)

# --- malformed JSON ------------------------------------------------------------------------------

MALFORMED_JSON = b'{"embargo_until": "2031-03-01T09:00:00+00:00", "status": '


@pytest.mark.parametrize(
    "target", ["POST-assets-fingerprints", "PATCH-asset", "PATCH-leak", "POST-keys"]
)
def test_malformed_json_is_400_and_changes_nothing(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], target: str
) -> None:
    method, url, key = {
        "POST-assets-fingerprints": ("POST", "/v1/assets/fingerprints", api.marketing),
        "PATCH-asset": ("PATCH", f"/v1/assets/{registered['id']}", api.marketing),
        "PATCH-leak": ("PATCH", f"/v1/leaks/{leak_id}", api.security),
        "POST-keys": ("POST", "/v1/keys", api.admin),
    }[target]
    keys_before = api.client.get("/v1/keys", headers=auth(api.admin)).json()
    before = stored(api, settings)

    response = api.client.request(
        method,
        url,
        content=MALFORMED_JSON,
        headers={**auth(key), "content-type": "application/json"},
    )

    assert_problem(response, 400)
    assert stored(api, settings) == before
    assert api.client.get("/v1/keys", headers=auth(api.admin)).json() == keys_before
    assert post_fingerprints(api).status_code == 201


# --- hostile bodies: long lists, many values, deep nesting --------------------------------------

# A problem document stays this small whatever the body held (the figure: under 10 KB).
SMALL_ANSWER_BYTES = 10 * 1024
MILLION_ONES = b"[" + b"1," * 999_999 + b"1]"  # 2 MB


def json_targets(api: Api, leak_id: str, asset_id: str) -> dict[str, tuple[str, str, str, str]]:
    """method, url, key and the list field of each JSON route that takes one (or, for the PATCH
    bodies, a field a list could be put in)."""
    return {
        "hash-only": ("POST", "/v1/sightings/fingerprints", api.crawler, "items"),
        "asset-fingerprints": ("POST", "/v1/assets/fingerprints", api.marketing, "fingerprints"),
        "asset-patch": ("PATCH", f"/v1/assets/{asset_id}", api.marketing, "embargo_until"),
        "leak-patch": ("PATCH", f"/v1/leaks/{leak_id}", api.security, "note"),
        "webhook": ("POST", "/v1/webhooks", api.security, "events"),
    }


JSON_TARGETS = ["hash-only", "asset-fingerprints", "asset-patch", "leak-patch", "webhook"]


def send_json(api: Api, target: tuple[str, str, str, str], body: bytes) -> httpx.Response:
    method, url, key, _ = target
    return api.client.request(
        method, url, content=body, headers={**auth(key), "content-type": "application/json"}
    )


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_million_item_list_is_refused_small_before_it_is_parsed(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    # A 2 MB `{"items": [1, 1, ...]}` got a 139 MB 422 after 13 s, holding every other request.
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(api, target, b'{"' + target[3].encode() + b'": ' + MILLION_ONES + b"}")

    body = assert_problem(response, 413)
    # The fingerprint routes admit more bytes (local features are long strings): there the
    # count of values refuses it, as unparsed.
    assert body["type"].endswith((":body-too-large", ":body-too-complex"))
    assert len(response.content) < SMALL_ANSWER_BYTES
    assert stored(api, settings) == before


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_many_values_under_the_byte_cap_are_refused_before_they_are_parsed(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    # Empty lists are the costliest values to parse per byte: ~3 bytes each.
    target = json_targets(api, leak_id, registered["id"])[name]
    hostile = b'{"' + target[3].encode() + b'": [' + b"[]," * 200_000 + b"[]]}"
    assert len(hostile) < settings.max_json_body_bytes

    response = send_json(api, target, hostile)

    body = assert_problem(response, 413)
    assert body["type"].endswith(":body-too-complex")
    assert len(response.content) < SMALL_ANSWER_BYTES


@pytest.mark.parametrize(
    ("name", "length"), [("hash-only", 1001), ("asset-fingerprints", 1001), ("webhook", 11)]
)
def test_list_longer_than_its_schema_allows_is_refused_by_its_length_alone(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str, length: int
) -> None:
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(
        api, target, b'{"' + target[3].encode() + b'": [' + b"1," * length + b"1]}"
    )

    body = assert_problem(response, 422)
    # One error for the length, none for the thousand items that are not objects either.
    too_long = [e for e in body["errors"] if e["type"] == "too_long"]
    assert [e["loc"] for e in too_long] == [["body", target[3]]]
    assert body["error_count"] < 10
    assert stored(api, settings) == before


def test_problem_names_at_most_twenty_errors_and_counts_them_all(
    api: Api, settings: Settings
) -> None:
    items = [{"page_url": 1, "fingerprints": "x", "x" * 5000: 1}] * 100
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": items}, headers=auth(api.crawler)
    )

    body = assert_problem(response, 422)
    assert len(body["errors"]) == 20
    assert body["error_count"] == 300
    assert len(response.content) < SMALL_ANSWER_BYTES


def test_body_over_the_configured_json_cap_is_413(api: Api, settings: Settings) -> None:
    item = {
        "page_url": "https://news.example.com/scoop",
        "fingerprints": [{"algorithm": "pdq", "variant": "original", "hex": PDQ_HEX}],
    }
    fits = settings.max_json_body_bytes // 200
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item] * fits}, headers=auth(api.crawler)
    )
    assert response.status_code in (200, 422), response.text  # read and answered, not capped
    over = settings.max_json_body_bytes // 100
    response = api.client.post(
        "/v1/sightings/fingerprints", json={"items": [item] * over}, headers=auth(api.crawler)
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("name", JSON_TARGETS)
def test_json_body_nested_10000_deep_is_4xx(
    api: Api, settings: Settings, leak_id: str, registered: dict[str, Any], name: str
) -> None:
    target = json_targets(api, leak_id, registered["id"])[name]
    before = stored(api, settings)

    response = send_json(
        api, target, b'{"' + target[3].encode() + b'": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert stored(api, settings) == before


def post_batch(api: Api, manifest: str) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/batch",
        files=[("files", ("a.jpg", image(1), "image/jpeg"))],
        data={"manifest": manifest},
        headers=auth(api.crawler),
    )


def test_batch_manifest_nested_10000_deep_is_4xx_not_500(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = post_batch(api, "[" * 10_000 + "]" * 10_000)

    body = assert_problem(response, 422)
    assert "nested" in body["detail"]
    assert stored(api, settings) == before


def test_batch_manifest_of_many_values_is_refused_before_it_is_parsed(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = post_batch(api, "[" + "[]," * 200_000 + "[]]")

    body = assert_problem(response, 422)
    assert "values" in body["detail"]
    assert len(response.content) < SMALL_ANSWER_BYTES
    assert stored(api, settings) == before


def test_asset_upload_with_more_tags_than_allowed_is_422(api: Api, settings: Settings) -> None:
    before = stored(api, settings)
    response = api.client.post(
        "/v1/assets",
        files={"file": ("a.jpg", image(3), "image/jpeg")},
        data={
            "name": "Prototype",
            "product": "SU7",
            "embargo_until": (api.clock() + timedelta(days=30)).isoformat(),
            "tags": [f"t{n}" for n in range(51)],
        },
        headers=auth(api.marketing),
    )
    assert_problem(response, 422)
    assert stored(api, settings) == before


def test_batch_size_setting_cannot_exceed_what_the_schemas_bound() -> None:
    with pytest.raises(ValueError, match="max_batch_items"):
        Settings(_env_file=None, max_batch_items=MAX_BATCH_ITEMS + 1)  # type: ignore[call-arg]


def test_hostile_bodies_sent_while_healthz_is_probed_get_small_capped_answers(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    """Hostile bodies from one thread while another probes /healthz through the same event loop.
    How long a probe waits is measured by bench/hostile_bodies.py against a real server (tests
    assert no timings); here every probe is answered and every hostile body gets a small 4xx
    with its errors capped."""
    hostile = [
        b'{"items": ' + MILLION_ONES + b"}",
        b'{"items": [' + b"[]," * 200_000 + b"[]]}",
        b'{"items": [' + b"1," * 999 + b"1]}",
        b'{"items": [' + b'{"x": 1},' * 500 + b'{"x": 1}]}',
    ]
    answers: list[httpx.Response] = []
    done = threading.Event()

    def attack() -> None:
        try:
            for _ in range(3):
                for body in hostile:
                    answers.append(
                        api.client.post(
                            "/v1/sightings/fingerprints",
                            content=body,
                            headers={**auth(api.crawler), "content-type": "application/json"},
                        )
                    )
        finally:
            done.set()

    attacker = threading.Thread(target=attack)
    attacker.start()
    probes = []
    while not done.is_set():
        probes.append(api.client.get("/healthz").status_code)
    attacker.join()

    assert probes and set(probes) == {200}
    assert len(answers) == 3 * len(hostile)
    for response in answers:
        assert 400 <= response.status_code < 500, response.text[:500]
        assert len(response.content) < SMALL_ANSWER_BYTES
        body = response.json()
        assert len(body.get("errors", [])) <= 20
