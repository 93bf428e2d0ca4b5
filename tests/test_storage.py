"""Storage on each back end: timestamps, migrations, the blob store, the audit trail."""

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session, col, select

from storage import migrate
from storage.blobs import BlobStore
from storage.db import make_engine, make_session_factory, transaction
from storage.ids import uuid7
from storage.models import ApiKey, AuditEvent, SightingMatch
from storage.types import UTCDateTime
from tests.api_client import Api


def test_migrations_reach_head_and_are_idempotent(migrated_engine: Engine) -> None:
    migrate.upgrade_to_head(migrated_engine)
    assert migrate.is_at_head(migrated_engine)


def test_migration_0007_gives_each_existing_match_its_sightings_times(
    migrated_engine: Engine,
) -> None:
    """Matches written before 0007 are paged in their leak's publication order after it."""
    config = migrate._config(migrated_engine)
    command.downgrade(config, "0006")
    received = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    claimed = received - timedelta(days=2)
    asset_id, leak_id, with_claim, without = uuid7(), uuid7(), uuid7(), uuid7()

    def table(name: str, *columns: str, times: tuple[str, ...] = ()) -> sa.TableClause:
        return sa.table(
            name,
            *(sa.column(c, sa.Uuid()) if c.endswith("id") else sa.column(c) for c in columns),
            *(sa.column(c, UTCDateTime()) for c in times),
        )

    dated = ("embargo_until", "created_at", "updated_at")
    with migrated_engine.begin() as conn:
        conn.execute(
            sa.insert(
                table("assets", "id", "name", "product", "status", "source", "tags", times=dated)
            ),
            [
                {
                    "id": asset_id,
                    "name": "a",
                    "product": "p",
                    "status": "active",
                    "source": "upload",
                    "tags": "[]",
                    "embargo_until": received,
                    "created_at": received,
                    "updated_at": received,
                }
            ],
        )
        sightings = table(
            "sightings",
            "id",
            "page_url",
            "page_key",
            "content_key",
            "submitted_as",
            "domain",
            times=("found_at", "received_at"),
        )
        conn.execute(
            sa.insert(sightings),
            [
                {
                    "id": sid,
                    "page_url": f"https://x.example/{n}",
                    "page_key": f"x.example/{n}",
                    "content_key": "c",
                    "submitted_as": "upload",
                    "domain": "x.example",
                    "found_at": found,
                    "received_at": received,
                }
                for n, (sid, found) in enumerate([(with_claim, claimed), (without, None)])
            ],
        )
        conn.execute(
            sa.insert(
                table(
                    "leaks",
                    "id",
                    "asset_id",
                    "status",
                    "first_sighting_id",
                    "sightings_count",
                    "best_score",
                    times=("first_seen_at", "last_seen_at", "created_at", "updated_at"),
                )
            ),
            [
                {
                    "id": leak_id,
                    "asset_id": asset_id,
                    "status": "open",
                    "first_sighting_id": with_claim,
                    "sightings_count": 2,
                    "best_score": 1.0,
                    "first_seen_at": claimed,
                    "last_seen_at": received,
                    "created_at": received,
                    "updated_at": received,
                }
            ],
        )
        conn.execute(
            sa.insert(
                table(
                    "sighting_matches",
                    "sighting_id",
                    "asset_id",
                    "leak_id",
                    "kind",
                    "score",
                    "variant",
                    "region",
                    "distances",
                )
            ),
            [
                {
                    "sighting_id": sid,
                    "asset_id": asset_id,
                    "leak_id": leak_id,
                    "kind": "leak",
                    "score": 1.0,
                    "variant": "original",
                    "region": "original",
                    "distances": "{}",
                }
                for sid in (with_claim, without)
            ],
        )

    migrate.upgrade_to_head(migrated_engine)

    with Session(migrated_engine) as session:
        matches = session.exec(select(SightingMatch).order_by(col(SightingMatch.published_at)))
        assert [(m.sighting_id, m.published_at, m.received_at) for m in matches] == [
            (with_claim, claimed, received),
            (without, received, received),
        ]


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
