"""The sighting hash chain: intact under concurrent writers, and `leaksentinel verify` names the
first record altered or removed after the fact."""

import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from service.access.actors import Actor, Role
from service.evidence import chain
from service.ingest import sightings
from service.ingest.intake import NewSighting
from service.runtime import Runtime, open_runtime, start
from service.settings import Settings
from storage import migrate
from storage.db import make_engine, transaction
from storage.repositories import chain as chain_repo
from testing.images import jpeg
from tests.api_client import Api
from tests.command import Ran, leaksentinel


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def verify_cli(database_url: str, tmp_path: Path, *flags: str) -> Ran:
    env = {
        "LEAKSENTINEL_DATABASE_URL": database_url,
        "LEAKSENTINEL_DATA_DIR": str(tmp_path / "data"),
    }
    return leaksentinel("verify", *flags, env=env)


def add_sightings(api: Api, seeds: tuple[int, ...] = (11, 12, 13)) -> list[str]:
    return [
        api.sighting(jpeg(seed), page_url=f"https://site{seed}.example.com/p")["id"]
        for seed in seeds
    ]


def test_a_routine_verify_walks_only_what_was_added_since_the_last(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    add_sightings(api)
    first = verify_cli(database_url, tmp_path)
    add_sightings(api, seeds=(14, 15))
    second = verify_cli(database_url, tmp_path)
    full = verify_cli(database_url, tmp_path, "--full")

    assert first.stdout.strip() == "chain intact: 3 records, head 3"
    assert second.stdout.strip() == (
        "chain intact: 2 records, head 5 (walked from the head verified at 3)"
    )
    assert full.stdout.strip() == "chain intact: 5 records, head 5"


def test_a_routine_verify_names_a_record_altered_after_the_last_verified_head(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    add_sightings(api)
    assert verify_cli(database_url, tmp_path).returncode == 0
    add_sightings(api, seeds=(14, 15))
    with runtime_of(api).engine.begin() as conn:
        conn.execute(text("UPDATE sightings SET domain = 'elsewhere.example' WHERE chain_seq = 4"))
    result = verify_cli(database_url, tmp_path)
    assert result.returncode == 1
    assert "record 4" in result.stderr and "altered" in result.stderr


def test_a_routine_verify_notices_the_verified_head_rewritten(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    add_sightings(api)
    assert verify_cli(database_url, tmp_path).returncode == 0
    with runtime_of(api).engine.begin() as conn:
        conn.execute(text(f"UPDATE sightings SET chain_digest = '{'f' * 64}' WHERE chain_seq = 3"))
        conn.execute(text(f"UPDATE chain_head SET digest = '{'f' * 64}'"))
    result = verify_cli(database_url, tmp_path)
    assert result.returncode == 1
    assert "record 3" in result.stderr and "since it was verified" in result.stderr


def test_only_the_full_walk_finds_an_old_record_edited_under_its_old_digest(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    ids = add_sightings(api)
    assert verify_cli(database_url, tmp_path).returncode == 0
    with runtime_of(api).engine.begin() as conn:
        conn.execute(
            text("UPDATE sightings SET page_url = 'https://x.example/' WHERE chain_seq = 2")
        )
    routine = verify_cli(database_url, tmp_path)
    full = verify_cli(database_url, tmp_path, "--full")

    assert routine.returncode == 0  # the documented limit of a routine run
    assert full.returncode == 1
    assert "record 2" in full.stderr and ids[1] in full.stderr


def test_a_failed_verify_records_no_verified_head(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    add_sightings(api)
    with runtime_of(api).engine.begin() as conn:
        conn.execute(text("DELETE FROM sightings WHERE chain_seq = 3"))
    assert verify_cli(database_url, tmp_path).returncode == 1
    with runtime_of(api).sessions() as session:
        assert chain_repo.last_checkpoint(session) is None


def test_a_record_past_the_head_is_named_as_added(api: Api) -> None:
    add_sightings(api)
    runtime = runtime_of(api)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE chain_head SET seq = 2"))
        conn.execute(
            text(
                "UPDATE chain_head SET digest = (SELECT chain_digest FROM sightings WHERE chain_seq = 2)"
            )
        )
    with runtime.sessions() as session:
        report = chain.verify(session)
    assert report.fault is not None and "added" in report.fault.problem


def test_chain_of_stored_sightings_verifies(api: Api, database_url: str, tmp_path: Path) -> None:
    add_sightings(api)
    result = verify_cli(database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "chain intact: 3 records" in result.stdout


def test_verify_names_an_altered_sighting(api: Api, database_url: str, tmp_path: Path) -> None:
    ids = add_sightings(api)
    with runtime_of(api).engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sightings SET page_url = 'https://innocent.example.com/' WHERE chain_seq = 2"
            )
        )
    result = verify_cli(database_url, tmp_path)
    assert result.returncode == 1
    assert "record 2" in result.stderr and "altered" in result.stderr
    assert ids[1] in result.stderr


def test_verify_names_a_removed_sighting(api: Api, database_url: str, tmp_path: Path) -> None:
    add_sightings(api)
    with runtime_of(api).engine.begin() as conn:
        conn.execute(text("DELETE FROM sightings WHERE chain_seq = 2"))
    result = verify_cli(database_url, tmp_path)
    assert result.returncode == 1
    assert "record 2" in result.stderr and "missing" in result.stderr


def test_verify_notices_the_last_sighting_removed(api: Api) -> None:
    add_sightings(api)
    runtime = runtime_of(api)
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM sightings WHERE chain_seq = 3"))
    with runtime.sessions() as session:
        report = chain.verify(session)
    assert report.fault is not None and report.fault.seq == 3
    assert "missing" in report.fault.problem


def test_concurrent_writers_build_one_unbroken_chain(api: Api) -> None:
    runtime = runtime_of(api)
    actor = Actor(key_id=None, name="crawler", role=Role.CRAWLER)
    errors: list[BaseException] = []

    def crawl(worker: int) -> None:
        try:
            for n in range(15):
                items = [
                    sightings.HashOnlySubmission(
                        sightings.SightingSource(f"https://w{worker}.example.com/{n}/{i}"),
                        [("pdq", "original", os.urandom(32).hex())],
                    )
                    for i in range(2)
                ]
                with transaction(runtime.sessions) as session:
                    sightings.submit_fingerprints(runtime, session, actor, items)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=crawl, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with runtime.sessions() as session:
        report = chain.verify(session)
    assert report.intact, report.fault
    assert report.records == report.head_seq == 4 * 15 * 2


def test_sightings_from_before_the_chain_are_chained_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    command.upgrade(migrate._config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sightings (id, page_url, domain, received_at) "
                "VALUES (:id, 'https://old.example.com/x', 'old.example.com', "
                "'2026-01-01 00:00:00.000000')"
            ),
            {"id": uuid4().hex},
        )
    engine.dispose()

    runtime = open_runtime(Settings(_env_file=None, database_url=url, data_dir=tmp_path))  # type: ignore[call-arg]
    start(runtime)
    with runtime.sessions() as session:
        report = chain.verify(session)
    assert report.intact, report.fault
    assert report.records == 1


def test_migrations_build_exactly_the_tables_the_models_describe(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade_to_head(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_a_record_serialised_before_the_lock_digests_exactly_as_record_of() -> None:
    """The append path hashes text made before the chain is locked; it must be the same bytes as
    the digest's own definition, for every kind of field value."""
    received = datetime(2026, 11, 22, 23, 0, 1, 5, tzinfo=UTC)
    plain = NewSighting(
        page_url="https://news.example.com/a",
        image_url=None,
        page_key="https://news.example.com/a",
        image_key=None,
        content_key="a" * 64,
        domain="news.example.com",
        account=None,
        found_at=None,
        received_at=received,
        crawler_key_id=None,
    )
    full = NewSighting(
        page_url='https://nachrichten.example.de/ÜBER "uns"?q=ä&x=\\n',
        image_url="https://cdn.example.de/😀.jpg",
        page_key="https://nachrichten.example.de/über",
        image_key="https://cdn.example.de/😀.jpg",
        content_key="b" * 64,
        domain="nachrichten.example.de",
        account="@lëak\u2028er",
        found_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        received_at=received,
        crawler_key_id=uuid4(),
        submitted_as="fingerprints",
        sha256="c" * 64,
        fingerprints=[["pdq", "full", "ff" * 32], ["phash", "full", "0f" * 8]],
        media_type="image/jpeg",
        byte_size=123_456,
        width=1920,
        height=1080,
        low_information="tiny",
    )
    previous = chain.GENESIS
    for seq, record in enumerate([plain, full, plain, full], start=1):
        for position in (seq, 10**12 + seq):
            record.chain_seq = position
            expected = chain.digest(previous, chain.record_of(record))
            assert chain.record_text(record).digest_at(previous, position) == expected
        previous = expected

    # And through append, as a request stores them.
    tail = chain.Tail(7, previous)
    texts = [chain.record_text(s) for s in (plain, full)]

    class NoHead:
        def execute(self, *_: object, **__: object) -> None:
            pass

    chain.append(NoHead(), tail, [plain, full], texts)  # type: ignore[arg-type]
    assert plain.chain_seq == 8 and full.chain_seq == 9
    assert plain.chain_digest == chain.digest(previous, chain.record_of(plain))
    assert full.chain_digest == chain.digest(plain.chain_digest, chain.record_of(full))
