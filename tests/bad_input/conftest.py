"""Fixtures of the bad-input tests: an active asset and an open leak to aim bad requests at."""

from typing import Any

import pytest

from tests.api_client import Api
from tests.bad_input.calls import image


@pytest.fixture(name="registered")
def registered_fixture(api: Api) -> dict[str, Any]:
    """An active asset (seed 1), so that a sighting stored by mistake would show as a leak."""
    return api.asset(image(1))


@pytest.fixture(name="leak_id")
def leak_id_fixture(api: Api, registered: dict[str, Any]) -> str:
    api.sighting(image(1))
    [leak] = api.leaks()
    return str(leak["id"])
