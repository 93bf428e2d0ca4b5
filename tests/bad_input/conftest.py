"""Fixtures of the bad-input tests: one app and database per module and back end, with an active
asset and an open leak to aim bad requests at.

Every case here checks that a bad request changed nothing by comparing what is stored before
and after it (tests/bad_input/calls.py), which holds as well in a world that earlier cases
left objects in; so the cases of a module share one instead of paying for one apiece."""

from typing import Any

import pytest

from service.runtime import Runtime
from service.settings import Settings
from tests.api_client import Api
from tests.bad_input.calls import image


@pytest.fixture(name="api")
def api_fixture(shared_api: Api) -> Api:
    return shared_api


@pytest.fixture(name="settings")
def settings_fixture(shared_api: Api) -> Settings:
    runtime: Runtime = shared_api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime.settings


@pytest.fixture(name="registered", scope="module")
def registered_fixture(shared_api: Api) -> dict[str, Any]:
    """An active asset (seed 1), so that a sighting stored by mistake would show as a leak."""
    return shared_api.asset(image(1))


@pytest.fixture(name="leak_id", scope="module")
def leak_id_fixture(shared_api: Api, registered: dict[str, Any]) -> str:
    shared_api.sighting(image(1))
    [leak] = [leak for leak in shared_api.leaks() if leak["asset"]["id"] == registered["id"]]
    return str(leak["id"])
