"""Storage on each back end: timestamps, migrations, the blob store, the audit trail."""

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from storage import migrate
from storage.blobs import BlobStore
from storage.db import before_commit, make_engine, make_session_factory, transaction
from storage.ids import uuid7
from storage.models import ApiKey, AuditEvent
from tests.api_client import Api


def test_migrations_reach_head_and_are_idempotent(migrated_engine: Engine) -> None:
    migrate.upgrade_to_head(migrated_engine)
    assert migrate.is_at_head(migrated_engine)


def test_timestamps_come_back_as_the_same_utc_instant(migrated_engine: Engine) -> None:
    paris = datetime(2027, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    with transaction(make_session_factory(migrated_engine)) as session:
        row = ApiKey(name="t", role="admin", secret_hash="a" * 64, prefix="x", created_at=paris)
        session.add(row)
    with Session(migrated_engine) as session:
        stored = session.exec(select(ApiKey)).one()
    assert stored.created_at == paris
    assert stored.created_at.tzinfo == UTC


def test_naive_timestamps_are_refused(migrated_engine: Engine) -> None:
    with (
        pytest.raises(StatementError, match="timezone-aware"),
        transaction(make_session_factory(migrated_engine)) as session,
    ):
        session.add(
            ApiKey(
                name="t",
                role="admin",
                secret_hash="b" * 64,
                prefix="x",
                created_at=datetime(2027, 1, 1),
            )
        )


def test_sighting_ids_are_version_7_uuids_in_time_order() -> None:
    earlier = [uuid7() for _ in range(1000)]
    time.sleep(0.003)
    later = uuid7()

    assert {u.version for u in [*earlier, later]} == {7}
    assert {u.variant for u in [*earlier, later]} == {"specified in RFC 4122"}
    assert len(set(earlier)) == 1000  # the random bits differ within one millisecond
    assert later > max(earlier)  # a later millisecond sorts after, as text and as bytes
    assert later.hex > max(u.hex for u in earlier)
    stamp = datetime.fromtimestamp((later.int >> 80) / 1000, UTC)
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5)


def test_work_deferred_to_the_commit_commits_with_it_or_not_at_all(
    migrated_engine: Engine,
) -> None:
    sessions = make_session_factory(migrated_engine)

    def audit(session: Session, action: str) -> None:
        event = AuditEvent(
            at=datetime.now(UTC), actor_name="t", action=action, target_type="t", target_id="1"
        )
        before_commit(session, lambda: session.add(event))

    with transaction(sessions) as session:
        audit(session, "deferred")
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        audit(session, "rolled-back")
        raise RuntimeError("the request failed")
    with transaction(sessions) as session:
        pass  # a later transaction of a new session runs nothing left over

    with transaction(sessions) as session:
        actions = list(session.exec(select(AuditEvent.action)))
    assert actions == ["deferred"]


def test_blob_store_is_content_addressed_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = "ab" * 32
    path = store.put(sha, b"evidence")
    assert path == tmp_path / "ab" / "ab" / sha
    assert store.get(sha) == b"evidence"
    store.put(sha, b"evidence")
    assert [p.name for p in path.parent.iterdir()] == [sha]


def test_blob_store_refuses_names_that_are_not_digests(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        BlobStore(tmp_path).path_for("../../etc/passwd")


def test_writes_are_audited_with_actor_and_address(api: Api, database_url: str) -> None:
    api.asset()
    engine = make_engine(database_url)
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    engine.dispose()
    assert [e.action for e in events] == ["key.create", "asset.register"]
    assert events[1].actor_name == "marketing-key"
    assert events[1].remote_addr == "testclient"
