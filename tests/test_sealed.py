"""Webhook signing secrets at rest: sealed, opened, rotated, and refused when no key opens them."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from service.alerts.sealed import PREFIX, Sealer, SecretUnreadable
from service.settings import Settings


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **changes)  # type: ignore[call-arg,arg-type]


def test_a_sealed_secret_opens_with_the_key_kept_in_the_data_folder(tmp_path: Path) -> None:
    sealed = Sealer.from_settings(_settings(tmp_path)).seal("whsec_abc")
    assert sealed.startswith(PREFIX) and "abc" not in sealed
    # Another process of the same host reads the same key file.
    assert Sealer.from_settings(_settings(tmp_path)).unseal(sealed) == "whsec_abc"
    assert (tmp_path / "data" / "secrets.key").stat().st_mode & 0o777 == 0o600


def test_a_secret_stored_before_sealing_reads_as_it_is(tmp_path: Path) -> None:
    assert Sealer.from_settings(_settings(tmp_path)).unseal("whsec_plain") == "whsec_plain"


def test_a_secret_sealed_with_a_key_no_longer_given_is_refused(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Sealer.from_settings(_settings(tmp_path, secrets_key=old)).seal("whsec_abc")
    rotated = Sealer.from_settings(_settings(tmp_path, secrets_key=f"{new},{old}"))
    assert rotated.unseal(sealed) == "whsec_abc"
    with pytest.raises(SecretUnreadable, match="no longer configured"):
        Sealer.from_settings(_settings(tmp_path, secrets_key=new)).unseal(sealed)


def test_a_data_folder_that_cannot_keep_the_key_stops_the_start_naming_the_setting(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = Settings(_env_file=None, data_dir=blocker / "data")  # type: ignore[call-arg]
    with pytest.raises(RuntimeError, match="LEAKSENTINEL_SECRETS_KEY"):
        Sealer.from_settings(settings)
