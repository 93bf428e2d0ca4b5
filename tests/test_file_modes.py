"""What the service writes to disk is its owner's alone: the database, its WAL, the blobs of
registered and found pictures and the dashboard's signing key (issue 19, item 9)."""

import stat
from pathlib import Path

from api.app import create_app
from service.settings import Settings
from testing.images import jpeg
from tests.api_client import Api, SettledClient
from tests.conftest import Clock


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_created_readable_by_their_owner_only(
    tmp_path: Path, bootstrap_key: str
) -> None:
    data = tmp_path / "data"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data,
        bootstrap_admin_key=bootstrap_key,
    )
    clock = Clock()
    with SettledClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        api = Api(client, bootstrap_key, clock)
        api.asset(jpeg(1))
        api.sighting(jpeg(2))
        assert client.get("/ui/login").status_code == 200

        files = [p for p in data.rglob("*") if p.is_file()]
        folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
        assert data / "leaksentinel.db" in files
        assert any(p.suffix == "" and len(p.name) == 64 for p in files), "no blob written"
        assert {str(p.relative_to(data)): _mode(p) for p in files if _mode(p) != 0o600} == {}
        assert {str(p.relative_to(data)): _mode(p) for p in folders if _mode(p) != 0o700} == {}
