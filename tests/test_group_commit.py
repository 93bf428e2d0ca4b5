"""Group commit: writers that arrive together share one transaction, and no one's failure or
absence of commit is hidden from them."""

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage.db import SessionFactory, make_session_factory, transaction
from storage.group_commit import GroupCommit
from storage.models import AuditEvent
from storage.types import utcnow


@pytest.fixture
def sessions(migrated_engine: Engine) -> SessionFactory:
    return make_session_factory(migrated_engine)


def event(action: str) -> AuditEvent:
    return AuditEvent(
        at=utcnow(), actor_name="test", action=action, target_type="t", target_id="1", detail={}
    )


def nothing(session: Session) -> None:
    """A group's `begin` that takes no lock."""


def stored_actions(sessions: SessionFactory) -> list[str]:
    with transaction(sessions) as session:
        return sorted(session.exec(select(AuditEvent.action)))


def writer(action: str, seen: list[int]) -> Callable[[Session, None], str]:
    def write(session: Session, _: None) -> str:
        seen.append(id(session))
        session.add(event(action))
        session.flush()
        return action

    return write


def test_writers_that_queue_behind_a_commit_share_the_next_one(sessions: SessionFactory) -> None:
    group = GroupCommit(sessions, nothing)
    first_started, release = threading.Event(), threading.Event()
    sessions_seen: list[int] = []

    def slow_first(session: Session, _: None) -> str:
        first_started.set()
        release.wait(10)
        session.add(event("first"))
        return "first"

    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(group.run, slow_first)
        assert first_started.wait(10)
        queued = [pool.submit(group.run, writer(f"w{i}", sessions_seen)) for i in range(5)]
        while len(group._queued) < 5:  # every one of them is waiting for the turn
            threading.Event().wait(0.01)
        release.set()
        assert first.result(10) == "first"
        assert [f.result(10) for f in queued] == [f"w{i}" for i in range(5)]

    assert len(set(sessions_seen)) == 1  # the five were written in one transaction
    assert stored_actions(sessions) == ["first", "w0", "w1", "w2", "w3", "w4"]


def test_a_failing_writer_fails_alone_and_the_others_commit(sessions: SessionFactory) -> None:
    group = GroupCommit(sessions, nothing)
    first_started, release = threading.Event(), threading.Event()

    def slow_first(session: Session, _: None) -> None:
        first_started.set()
        release.wait(10)

    def failing(session: Session, _: None) -> None:
        session.add(event("failing"))
        session.flush()
        raise ValueError("this request's own fault")

    with ThreadPoolExecutor(6) as pool:
        pool.submit(group.run, slow_first)
        assert first_started.wait(10)
        futures: list[Future[object]] = []
        for i in range(4):
            futures.append(pool.submit(group.run, writer(f"w{i}", [])))
            if i == 1:
                futures.append(pool.submit(group.run, failing))
        while len(group._queued) < 5:
            threading.Event().wait(0.01)
        release.set()
        bad = futures.pop(2)
        with pytest.raises(ValueError, match="own fault"):
            bad.result(10)
        assert [f.result(10) for f in futures] == ["w0", "w1", "w2", "w3"]

    assert stored_actions(sessions) == ["w0", "w1", "w2", "w3"]


def test_a_write_returns_only_once_committed(
    sessions: SessionFactory, migrated_engine: Engine
) -> None:
    group = GroupCommit(sessions, nothing)
    group.run(writer("acknowledged", []))
    # A separate connection sees it: returned means committed, not merely flushed.
    with Session(migrated_engine) as other:
        count = other.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "acknowledged")
        ).one()
    assert count == 1


def test_writers_that_queue_while_the_lock_is_awaited_join_the_group(
    sessions: SessionFactory,
) -> None:
    awaiting_lock, lock_free = threading.Event(), threading.Event()
    begun: list[int] = []

    def begin(session: Session) -> None:
        begun.append(id(session))
        awaiting_lock.set()
        lock_free.wait(10)

    group = GroupCommit(sessions, begin)
    sessions_seen: list[int] = []
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(group.run, writer("w0", sessions_seen))
        assert awaiting_lock.wait(10)
        later = [pool.submit(group.run, writer(f"w{i}", sessions_seen)) for i in range(1, 5)]
        while len(group._queued) < 5:  # the leader's job and the four behind it
            threading.Event().wait(0.01)
        lock_free.set()
        assert [f.result(10) for f in [first, *later]] == [f"w{i}" for i in range(5)]

    assert len(begun) == 1 and set(sessions_seen) == set(begun)  # one lock, one transaction
    assert stored_actions(sessions) == ["w0", "w1", "w2", "w3", "w4"]


def test_a_lock_that_cannot_be_taken_fails_the_writer_and_writes_nothing(
    sessions: SessionFactory,
) -> None:
    def begin(session: Session) -> None:
        raise ValueError("no lock today")

    group = GroupCommit(sessions, begin)
    with pytest.raises(ValueError, match="no lock today"):
        group.run(writer("never", []))
    assert stored_actions(sessions) == []
