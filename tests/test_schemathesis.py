"""Schemathesis against the OpenAPI schema, with each role's key: no 5xx, no schema violations."""

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.errors import FailureGroup
from schemathesis.python.asgi import ASGIClient

from tests.api_client import Api, auth

ROLES = ("admin", "marketing", "crawler", "security")
# Per operation and role (positive and negative cases drawn together), about 330 requests per
# role. An operation that answers the first FORBIDDEN_PROBE cases with 403 (or 401, where a
# negative case mangled the key's header) only is one the role may not call, whose answer the
# key decides before anything else in the request is read (tests/test_roles.py checks that
# matrix); drawing the rest of its cases would spend the generator's time, the bulk of this
# test's, on the same refusal.
MAX_EXAMPLES = 15
FORBIDDEN_PROBE = 3
KEY_DECIDED = {401, 403}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _exercise(
    session: ASGIClient, headers: dict[str, str], answered: Counter[int], failures: list[str]
) -> Callable[[schemathesis.Case], None]:
    """Sends a case and checks its answer, counting statuses into `answered`."""

    def exercise(case: schemathesis.Case) -> None:
        response = case.call(session=session, headers=headers)
        answered[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as exc:  # collected, so one run reports every operation
            for failure in exc.exceptions:
                failures.append(f"{case.operation.label} [{response.status_code}]: {failure}")

    return exercise


def _run(exercise: Callable[[schemathesis.Case], None], strategy: Any, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same requests every run: a failure here replays
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        exercise(case)

    run()


def _key(api: Api, role: str) -> str:
    return api.admin if role == "admin" else str(getattr(api, role))


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(api: Api, client: TestClient, role: str) -> None:
    raw: dict[str, Any] = client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    # The app's lifespan is already running under the test's client; this session sends to the
    # same app in process without starting it a second time (it is never entered).
    session = ASGIClient(client.app)
    headers = auth(_key(api, role))
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        )
        answered: Counter[int] = Counter()
        exercise = _exercise(session, headers, answered, failures)
        _run(exercise, strategy, FORBIDDEN_PROBE)
        if not set(answered) <= KEY_DECIDED:
            _run(exercise, strategy, MAX_EXAMPLES)
        statuses.update(answered)
    print(f"{role}: {sum(statuses.values())} requests, statuses {sorted(statuses.items())}")
    distinct = sorted(set(failures))
    assert not distinct, "\n\n".join(distinct[:40]) + f"\n\n{len(failures)} failures; {statuses}"


def test_every_api_operation_documents_its_problem_answers(client: TestClient) -> None:
    # Schemathesis found 401/403/404/... undocumented everywhere, and 422 documented as FastAPI's
    # {"detail": [...]} under application/json while the API sends problem+json.
    paths = client.get("/openapi.json").json()["paths"]
    operations = [
        op for path, item in paths.items() if path.startswith("/v1/") for op in item.values()
    ]
    assert operations
    for operation in operations:
        responses = operation["responses"]
        assert "application/problem+json" in responses["4XX"]["content"], operation["operationId"]
        assert "422" not in responses, operation["operationId"]
