"""The `leaksentinel` command: keys issued, listed and revoked; fingerprint errors."""

import json
import os
from pathlib import Path

import pytest

from api.app import create_app
from cli.main import tune_malloc
from service.ingest import sightings
from service.settings import Settings
from testing.images import jpeg
from tests.api_client import SettledClient
from tests.command import leaksentinel


def test_cli_key_works_is_listed_without_secret_and_dies_when_revoked(
    database_url: str, tmp_path: Path
) -> None:
    env = {"LEAKSENTINEL_DATABASE_URL": database_url, "LEAKSENTINEL_DATA_DIR": str(tmp_path)}
    created = leaksentinel("keys", "create", "--role", "security", "--name", "mei", env=env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("lsk_")

    listed = leaksentinel("keys", "list", env=env).stdout
    assert "security" in listed and "mei" in listed and secret not in listed
    key_id = listed.split()[0]

    settings = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path)  # type: ignore[call-arg]
    with SettledClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/v1/leaks", headers=headers).status_code == 200
        assert leaksentinel("keys", "revoke", key_id, env=env).returncode == 0
        assert client.get("/v1/leaks", headers=headers).status_code == 401


def test_cli_refuses_unknown_role(tmp_path: Path) -> None:
    result = leaksentinel(
        "keys",
        "create",
        "--role",
        "owner",
        "--name",
        "x",
        env={"LEAKSENTINEL_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "owner" in result.stderr


def test_fingerprint_of_a_text_file_fails_with_a_clear_message(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    result = leaksentinel("fingerprint", str(text), env={})
    assert result.returncode == 2
    assert "not a JPEG, PNG, WebP or GIF" in result.stderr


def test_bootstrap_key_is_created_only_while_no_key_exists(
    database_url: str, tmp_path: Path
) -> None:
    env = {"LEAKSENTINEL_DATABASE_URL": database_url, "LEAKSENTINEL_DATA_DIR": str(tmp_path)}
    assert (
        leaksentinel("keys", "create", "--role", "admin", "--name", "first", env=env).returncode
        == 0
    )
    late = "lsk_late_bootstrap_" + "x" * 24
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, data_dir=tmp_path, bootstrap_admin_key=late
    )
    with SettledClient(create_app(settings)) as client:
        response = client.get("/v1/keys", headers={"Authorization": f"Bearer {late}"})
    assert response.status_code == 401


def test_fingerprint_for_a_sighting_prints_what_the_server_would_search_with(
    tmp_path: Path,
) -> None:
    image = tmp_path / "found.jpg"
    image.write_bytes(jpeg(7))
    result = leaksentinel("fingerprint", "--for", "sighting", str(image), env={})
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    local = sightings.fingerprint_locally(jpeg(7), Settings(_env_file=None).image_limits)  # type: ignore[call-arg]
    assert printed["sha256"] == local.sha256
    assert printed["fingerprints"] == [
        {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
        for f in local.prints.fingerprints
    ]


def test_serve_bounds_glibc_malloc_for_its_workers_unless_the_operator_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The workers uvicorn spawns read these as they start (bench/README.md, "Memory").
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    tune_malloc()
    assert os.environ["MALLOC_ARENA_MAX"] == "2"
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == "65536"
