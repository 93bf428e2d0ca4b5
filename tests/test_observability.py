"""/metrics, JSON log lines with a request id and nothing confidential in them, and /readyz."""

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.observability import JsonFormatter
from service import metrics
from service.runtime import Runtime
from service.settings import Settings
from storage.db import transaction
from storage.repositories import index_state
from testing.images import encode, jpeg, photo
from testing.server import Server, free_port
from tests.api_client import Api, SettledClient, auth

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

METRIC_NAMES = {
    "leaksentinel_http_requests_total",
    "leaksentinel_http_request_duration_seconds_bucket",
    "leaksentinel_sightings_total",
    "leaksentinel_leaks_opened_total",
    "leaksentinel_index_fingerprints",
    "leaksentinel_index_generation_lag_seconds",
    "leaksentinel_pending_matches",
}


def scrape(client: TestClient | str, admin_key: str) -> Samples:
    """The metrics as an admin key reads them on the API's port."""
    if isinstance(client, str):
        response = httpx.get(f"{client}/metrics", headers=auth(admin_key))
    else:
        response = client.get("/metrics", headers=auth(admin_key))
    return parse(response)


def parse(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples, "leaksentinel_http_requests_total", route=route, method=method, status=str(status)
    )


def test_metrics_count_requests_sightings_leaks_and_rejections(api: Api) -> None:
    before = scrape(api.client, api.admin)
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    again = api.post_sighting(jpeg(1))  # the same bytes from the same page: not stored again
    assert again.status_code == 200 and again.json()["duplicate"] is True
    rejected = api.post_sighting(b"not an image at all")
    assert rejected.status_code >= 400
    reason = rejected.json()["reason"]
    [leak] = api.leaks(asset_id=asset["id"])
    api.leak(leak["id"])
    after = scrape(api.client, api.admin)

    assert {name for name, _ in after} >= METRIC_NAMES
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    assert value(delta, "leaksentinel_sightings_total") == 1
    assert value(delta, "leaksentinel_leaks_opened_total") == 1
    assert value(delta, "leaksentinel_decode_rejections_total", reason=reason) == 1
    assert requests(delta, "/v1/sightings", "POST", 201) == 1
    assert requests(delta, "/v1/sightings", "POST", 200) == 1  # the duplicate's receipt
    assert requests(delta, "/v1/sightings", "POST", rejected.status_code) == 1
    assert requests(delta, "/v1/leaks/{leak_id}", "GET", 200) == 1
    assert (
        value(
            delta, "leaksentinel_http_request_duration_seconds_count", route="/v1/leaks/{leak_id}"
        )
        == 1
    )
    # Route templates only: no label carries a raw id.
    assert not any(leak["id"] in str(labels) for _, labels in after)
    assert value(after, "leaksentinel_index_fingerprints") > 0
    assert value(after, "leaksentinel_index_generation_lag_seconds") == 0
    assert value(after, "leaksentinel_pending_matches") == 0  # the client waits for the worker


def test_unmatched_paths_share_one_label(api: Api) -> None:
    before = scrape(api.client, api.admin)
    for n in range(3):
        assert api.client.get(f"/no/such/path/{n}").status_code == 404
    after = scrape(api.client, api.admin)
    assert requests(after, "unmatched", "GET", 404) - requests(before, "unmatched", "GET", 404) == 3
    assert not any("/no/such" in str(labels) for _, labels in after)


@pytest.mark.parametrize("role", ["crawler", "marketing", "security"])
def test_crawler_key_cannot_read_metrics(api: Api, role: str) -> None:
    # A crawler reading leaksentinel_leaks_opened_total before and after a post would learn
    # whether its picture matched a confidential asset.
    response = api.client.get("/metrics", headers=auth(getattr(api, role)))
    assert response.status_code == 403, response.text
    assert "leaksentinel_" not in response.text


def test_keyless_caller_cannot_read_metrics_or_asset_counts(api: Api) -> None:
    def keyless() -> list[tuple[int, bytes]]:
        answers = [api.client.get(path) for path in ("/healthz", "/readyz", "/metrics")]
        return [(a.status_code, a.content) for a in answers]

    before = keyless()
    assert before[2][0] == 401 and b"leaksentinel_" not in before[2][1]
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    api.sighting(jpeg(2), page_url="https://other.example.com/unrelated")
    assert len(api.leaks()) == 1
    # The same bytes after assets were registered and a picture matched: nothing counts them.
    assert keyless() == before


def test_metrics_listener_serves_without_a_key_off_the_api_port(settings: Settings) -> None:
    port = free_port()
    listening = settings.model_copy(update={"metrics_listen": f"127.0.0.1:{port}"})
    with SettledClient(create_app(listening)) as client:
        samples = parse(httpx.get(f"http://127.0.0.1:{port}/metrics"))
        assert {name for name, _ in samples} >= METRIC_NAMES - {
            "leaksentinel_http_requests_total",
            "leaksentinel_http_request_duration_seconds_bucket",
        }
        assert httpx.get(f"http://127.0.0.1:{port}/v1/keys").status_code == 404
        assert client.get("/metrics").status_code == 401
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_sightings_count_only_once_committed(api: Api) -> None:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    start = metrics.SIGHTINGS._value.get()
    with runtime.sessions() as session:
        metrics.count_sightings_on_commit(session, 5)
        session.rollback()
    assert metrics.SIGHTINGS._value.get() == start
    with transaction(runtime.sessions) as session:
        metrics.count_sightings_on_commit(session, 2)
    assert metrics.SIGHTINGS._value.get() == start + 2


def test_index_lag_grows_while_another_process_changed_the_assets(api: Api) -> None:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    assert value(scrape(api.client, api.admin), "leaksentinel_index_generation_lag_seconds") == 0
    # Another process registered an asset: the generation moved, this index has not.
    with transaction(runtime.sessions) as session:
        index_state.bump(session)
    assert runtime.replica.current_at is not None
    runtime.replica.current_at -= 42  # as if that check was 42 s ago
    lag = value(scrape(api.client, api.admin), "leaksentinel_index_generation_lag_seconds")
    assert 42 <= lag < 60
    with runtime.sessions() as session:
        runtime.replica.ensure_current(runtime.sessions, session)  # as each match batch does
    assert value(scrape(api.client, api.admin), "leaksentinel_index_generation_lag_seconds") == 0


# ---- request ids and logs ------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, as the JSON lines the service writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # The test's own HTTP client logs every URL it calls; it is not the service.
    test_client_log = logging.getLogger("httpx2")
    test_client_level = test_client_log.level
    test_client_log.setLevel(logging.WARNING)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    test_client_log.setLevel(test_client_level)


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "crawler-7.batch:42"})
    assert given.headers["x-request-id"] == "crawler-7.batch:42"
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    for hostile in ("x" * 65, 'a"b', "a b", "é"):
        answered = client.get("/healthz", headers={"X-Request-ID": hostile.encode()})
        assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["x-request-id"])


def test_logs_are_json_with_request_fields(api: Api, log_lines: io.StringIO) -> None:
    api.client.get("/v1/assets", headers={**auth(api.admin), "X-Request-ID": "trace-1"})
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    [access] = [line for line in lines if line.get("request_id") == "trace-1"]
    assert access["logger"] == "leaksentinel.access"
    assert access["route"] == "/v1/assets"
    assert access["method"] == "GET" and access["status"] == 200
    assert access["duration_ms"] >= 0 and access["level"] == "INFO"
    assert {"time", "message"} <= set(access)


def test_no_key_image_bytes_or_asset_name_in_any_log_line(api: Api, log_lines: io.StringIO) -> None:
    marker = b"ZQX-CONFIDENTIAL-PIXELS-7731"
    image = encode(photo(11), "JPEG", comment=marker)
    name, product = "Obsidian Falcon hero render", "Falcon-Q9 secret"
    asset = api.asset(image, name=name, product=product)
    api.sighting(image)
    rejected = api.post_sighting(b"GIF89a" + marker + b"\x00" * 40)
    assert rejected.status_code >= 400
    [leak] = api.leaks(asset_id=asset["id"])
    api.leak(leak["id"])
    patched = api.client.patch(
        f"/v1/leaks/{leak['id']}",
        json={"status": "confirmed", "note": f"same as {name}"},
        headers=auth(api.security),
    )
    assert patched.status_code == 200, patched.text
    api.client.get("/v1/assets", params={"product": product}, headers=auth(api.security))
    api.client.get("/v1/keys", headers=auth(api.admin))

    text = log_lines.getvalue()
    lines = text.splitlines()
    assert len(lines) >= 10
    assert all(isinstance(json.loads(line), dict) for line in lines)
    secrets = [api.admin, api.marketing, api.crawler, api.security, name, product]
    for secret in secrets:
        assert secret not in text
    assert marker.decode() not in text
    assert image[:64].hex() not in text and repr(image[:32]) not in text


# ---- readiness -----------------------------------------------------------------------------------


def test_readyz_is_false_until_migrated_and_index_loaded(
    settings: Settings, tmp_path: Path
) -> None:
    if settings.database_url.startswith("sqlite"):
        # Not the migrated copy the fixture gives: a file with no schema yet.
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
        settings = settings.model_copy(update={"database_url": fresh})
    app = create_app(settings)
    bare = TestClient(app, raise_server_exceptions=False)  # lifespan not run: nothing started
    response = bare.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["index"] is False
    if settings.database_url.startswith("sqlite"):
        assert body["migrations"] is False  # a fresh database file: no schema yet
    with SettledClient(app) as started:
        response = started.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "database": True,
            "migrations": True,
            "index": True,
        }


def test_readyz_is_false_while_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    response = TestClient(create_app(settings), raise_server_exceptions=False).get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] is False


# ---- several worker processes --------------------------------------------------------------------


@pytest.mark.slow
def test_metrics_add_up_every_worker_process(server_env: dict[str, str], tmp_path: Path) -> None:
    server = Server(server_env, tmp_path / "server.log", workers=2)
    server.start()
    try:
        before = requests(
            scrape(server.base_url, server_env["LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY"]),
            "/healthz",
            "GET",
            200,
        )
        for _ in range(40):
            # A new connection each time, so the workers share the requests between them.
            assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        for _ in range(5):
            # Whichever worker answers the scrape, it reports the sum over both.
            assert (
                requests(
                    scrape(server.base_url, server_env["LEAKSENTINEL_BOOTSTRAP_ADMIN_KEY"]),
                    "/healthz",
                    "GET",
                    200,
                )
                == before + 40
            )
        assert len(list((tmp_path / "data" / "prometheus").glob("counter_*.db"))) >= 1
    finally:
        server.stop()
    for line in (tmp_path / "server.log").read_text().splitlines():
        if line.startswith("{"):
            assert json.loads(line)["level"]
