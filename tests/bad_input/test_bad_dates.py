"""Malformed, past, future and out-of-range dates are refused with a 422; nothing stored."""

from datetime import timedelta
from typing import Any

import pytest

from service.settings import Settings
from tests.api_client import Api, auth
from tests.bad_input.calls import (
    ASSET,
    OUT_OF_RANGE,
    SIGHTING,
    assert_next_upload_succeeds,
    assert_problem,
    image,
    post_fingerprints,
    stored,
    upload,
)

MALFORMED_DATES = {
    "words": "next tuesday",
    "naive": "2031-03-01T09:00:00",
    "impossible-day": "2031-02-30T09:00:00+01:00",
}


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_asset_upload_is_422_and_stores_nothing(
    api: Api, settings: Settings, value: str
) -> None:
    before = stored(api, settings)

    assert_problem(upload(api, ASSET, image(1), embargo_until=value), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_fingerprint_registration_is_422_and_stores_nothing(
    api: Api, settings: Settings, value: str
) -> None:
    before = stored(api, settings)

    response = post_fingerprints(api, embargo_until=value)

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert post_fingerprints(api).status_code == 201


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_embargo_on_asset_patch_is_422_and_changes_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], value: str
) -> None:
    before = stored(api, settings)
    url = f"/v1/assets/{registered['id']}"

    response = api.client.patch(url, json={"embargo_until": value}, headers=auth(api.marketing))

    assert_problem(response, 422)
    assert stored(api, settings) == before
    later = (api.clock() + timedelta(days=90)).isoformat()
    moved = api.client.patch(url, json={"embargo_until": later}, headers=auth(api.marketing))
    assert moved.status_code == 200, moved.text


@pytest.mark.parametrize("value", list(MALFORMED_DATES.values()), ids=list(MALFORMED_DATES))
def test_malformed_found_at_on_sighting_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any], value: str
) -> None:
    before = stored(api, settings)

    assert_problem(upload(api, SIGHTING, image(1), found_at=value), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


def test_found_at_in_the_future_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)
    tomorrow = (api.clock() + timedelta(days=1)).isoformat()

    assert_problem(upload(api, SIGHTING, image(1), found_at=tomorrow), 422)

    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)


@pytest.mark.parametrize("target", ["upload", "fingerprints"])
def test_embargo_in_the_past_is_422_and_stores_nothing(
    api: Api, settings: Settings, target: str
) -> None:
    before = stored(api, settings)
    past = (api.clock() - timedelta(minutes=1)).isoformat()

    if target == "upload":
        response = upload(api, ASSET, image(1), embargo_until=past)
    else:
        response = post_fingerprints(api, embargo_until=past)

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


def test_embargo_that_overflows_utc_is_422_and_stores_nothing(api: Api, settings: Settings) -> None:
    before = stored(api, settings)

    response = upload(
        api, ASSET, image(1), embargo_until=OUT_OF_RANGE["embargo-year-9999-behind-utc"]
    )

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, ASSET)


def test_found_at_that_overflows_utc_is_422_and_stores_nothing(
    api: Api, settings: Settings, registered: dict[str, Any]
) -> None:
    before = stored(api, settings)

    response = upload(api, SIGHTING, image(1), found_at=OUT_OF_RANGE["year-1-ahead-of-utc"])

    assert_problem(response, 422)
    assert stored(api, settings) == before
    assert_next_upload_succeeds(api, settings, SIGHTING)
