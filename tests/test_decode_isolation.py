"""Decoding in worker processes (issue 7): a decoder that hangs, crashes or runs away with memory
costs the one upload it was given, never the service, the next upload or the rest of a batch."""

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from service.decoding import DecodePool, fingerprint_asset_image
from service.detection import hashes
from service.detection.decode import ImageLimits, decode
from service.errors import ImageRejected
from service.ingest.intake import fingerprint_locally
from service.runtime import Runtime
from service.settings import Settings
from testing.images import jpeg
from tests import hostile
from tests.api_client import Api, auth
from tests.test_observability import scrape, value

# Long enough that the memory hog reaches its cap before the clock runs out on a slow, shared
# machine (at 1 s it was once stopped for time instead); the hang tests wait this long.
TIMEOUT = 2.0
LIMITS = ImageLimits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "decode_timeout_seconds": TIMEOUT,
            "decode_memory_mb": 256,
            "fingerprint_workers": 2,
        }
    )


@pytest.fixture
def decoder() -> None:
    """The app makes its own pool, with this module's limits and hostile jobs."""
    return None


@pytest.fixture
def hostile_api(api: Api) -> Api:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    runtime.decoder.found_image_job = hostile.found_image
    runtime.decoder.asset_job = hostile.asset_image
    return api


@pytest.fixture
def pool() -> Iterator[DecodePool]:
    decoder = DecodePool(workers=2, timeout_seconds=TIMEOUT, memory_mb=256)
    decoder.found_image_job = hostile.found_image
    yield decoder
    decoder.close()


def assert_rejected(response_json: dict[str, object], reason: str) -> None:
    assert response_json["status"] == 422, response_json
    assert response_json["reason"] == reason, response_json


def test_decoder_that_hangs_costs_one_request(hostile_api: Api) -> None:
    started = time.monotonic()
    response = hostile_api.post_sighting(hostile.HANG)
    elapsed = time.monotonic() - started

    assert response.status_code == 422, response.text
    assert_rejected(response.json(), "decode_timeout")
    assert elapsed < TIMEOUT + 3, elapsed
    hostile_api.sighting(jpeg(2))


@pytest.mark.parametrize("cue", list(hostile.CRASHES.values()), ids=list(hostile.CRASHES))
def test_decoder_that_crashes_costs_one_request(hostile_api: Api, cue: bytes) -> None:
    response = hostile_api.post_sighting(cue)

    assert response.status_code == 422, response.text
    assert_rejected(response.json(), "decoder_crashed")
    hostile_api.sighting(jpeg(2))


def test_decoder_over_its_memory_limit_costs_one_request(hostile_api: Api) -> None:
    response = hostile_api.post_sighting(hostile.HOG)

    assert response.status_code == 422, response.text
    assert_rejected(response.json(), "decode_memory")
    hostile_api.sighting(jpeg(2))


def test_batch_rejects_only_the_items_whose_decoder_failed(hostile_api: Api) -> None:
    files = {
        "a.jpg": jpeg(2),
        "hang.jpg": hostile.HANG,
        "segfault.jpg": hostile.SEGFAULT,
        "hog.jpg": hostile.HOG,
        "b.jpg": jpeg(3),
    }
    manifest = [{"filename": n, "page_url": f"https://blog.example.com/{n}"} for n in files]
    response = hostile_api.client.post(
        "/v1/sightings/batch",
        files=[("files", (name, data, "image/jpeg")) for name, data in files.items()],
        data={"manifest": json.dumps(manifest)},
        headers=auth(hostile_api.crawler),
    )

    assert response.status_code == 200, response.text
    outcomes = [
        (i["filename"], i["outcome"], (i["problem"] or {}).get("reason"))
        for i in response.json()["items"]
    ]
    assert outcomes == [
        ("a.jpg", "created", None),
        ("hang.jpg", "rejected", "decode_timeout"),
        ("segfault.jpg", "rejected", "decoder_crashed"),
        ("hog.jpg", "rejected", "decode_memory"),
        ("b.jpg", "created", None),
    ]
    hostile_api.sighting(jpeg(4))


def test_asset_registration_decodes_in_the_workers_too(hostile_api: Api) -> None:
    response = hostile_api.register_asset(hostile.SEGFAULT)

    assert response.status_code == 422, response.text
    assert_rejected(response.json(), "decoder_crashed")
    hostile_api.asset(jpeg(5))


def test_rejections_by_failed_decoders_are_counted_by_reason(hostile_api: Api) -> None:
    before = scrape(hostile_api.client, hostile_api.admin)
    for cue in (hostile.HANG, hostile.EXIT, hostile.HOG):
        assert hostile_api.post_sighting(cue).status_code == 422
    after = scrape(hostile_api.client, hostile_api.admin)

    name = "leaksentinel_decode_rejections_total"
    for reason in ("decode_timeout", "decoder_crashed", "decode_memory"):
        assert value(after, name, reason=reason) - value(before, name, reason=reason) == 1


def test_a_hanging_decode_does_not_hold_up_the_other_worker(pool: DecodePool) -> None:
    outcome: list[BaseException] = []

    def hang() -> None:
        try:
            pool.fingerprint_found_image(hostile.HANG, LIMITS)
        except ImageRejected as exc:
            outcome.append(exc)

    pool.fingerprint_found_image(jpeg(0), LIMITS)  # both workers up
    hanging = threading.Thread(target=hang)
    hanging.start()
    time.sleep(0.2)
    started = time.monotonic()
    for seed in range(3):
        pool.fingerprint_found_image(jpeg(seed), LIMITS)
    quick = time.monotonic() - started
    hanging.join()

    assert quick < TIMEOUT, quick
    [rejected] = outcome
    assert isinstance(rejected, ImageRejected) and rejected.reason == "decode_timeout"


def test_workers_compute_exactly_the_in_process_fingerprints(pool: DecodePool) -> None:
    for seed in range(3):
        data = jpeg(seed, size=(800, 600))
        found = pool.fingerprint_found_image(data, LIMITS)
        local = fingerprint_locally(data, LIMITS)
        assert (found.sha256, found.sighting_prints) == (local.sha256, local.prints)

        asset = pool.fingerprint_asset_image(data, LIMITS)
        decoded = decode(data, LIMITS)
        assert asset.prints == tuple(hashes.fingerprint_asset(decoded.pixels))
        assert asset == fingerprint_asset_image(data, LIMITS)


def test_a_batch_goes_to_the_workers_in_groups_and_comes_back_in_order(
    pool: DecodePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks: list[int] = []
    schedule = pool._schedule

    def counted(function: Any, args: tuple[Any, ...], timeout: float) -> Any:
        tasks.append(len(args[1]))
        return schedule(function, args, timeout)

    monkeypatch.setattr(pool, "_schedule", counted)
    files = [jpeg(seed) for seed in range(8)]

    found = pool.fingerprint_found_images(files, LIMITS)

    assert tasks == [4, 4]  # two workers, a group of four files for each
    assert [(f.sha256, f.sighting_prints) for f in found if not isinstance(f, Exception)] == [
        (local.sha256, local.prints) for local in (fingerprint_locally(d, LIMITS) for d in files)
    ]


def test_a_hanging_file_in_a_group_is_stopped_at_its_own_time_limit(pool: DecodePool) -> None:
    # Two workers, so groups of four: pebble's limit for the group is four files' time and a
    # second; the worker's alarm rings after one, then the hanging file alone overruns once more.
    files = [hostile.HANG, *(jpeg(seed) for seed in range(1, 8))]
    started = time.monotonic()

    found = pool.fingerprint_found_images(files, LIMITS)

    elapsed = time.monotonic() - started
    assert elapsed < 4 * TIMEOUT, elapsed
    rejected, *decoded = found
    assert isinstance(rejected, ImageRejected) and rejected.reason == "decode_timeout"
    assert [f.sha256 for f in decoded if not isinstance(f, Exception)] == [
        fingerprint_locally(d, LIMITS).sha256 for d in files[1:]
    ]


def test_closing_the_pool_stops_its_workers(pool: DecodePool) -> None:
    before = set(multiprocessing.active_children())
    pool.fingerprint_found_image(jpeg(1), LIMITS)
    workers = set(multiprocessing.active_children()) - before
    assert len(workers) == 2

    pool.close()

    assert not any(w.is_alive() for w in workers)
    assert not set(multiprocessing.active_children()) - before
