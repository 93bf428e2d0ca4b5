"""Group commit: the writes of concurrent requests in one transaction, one commit for them all."""

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from storage.db import SessionFactory, is_unavailable, transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B")

# Requests written in one transaction at most. Enough to take every request a process has in
# flight under load; few enough that one commit's work stays short for whoever waits behind it.
MAX_GROUP = 64


class _Job(Generic[T]):
    __slots__ = ("done", "error", "result", "write")

    def __init__(self, write: Callable[[Session, Any], T]) -> None:
        self.write = write
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set together with done


class GroupCommit(Generic[B]):
    """Runs each caller's `write(session, begun)` and returns only once it is committed, as a
    transaction of its own would. Writers that arrive while a commit is under way queue; the
    next of them to get the turn opens a transaction, runs `begin` (which takes the lock they
    all need, and returns what they share of it: `begun`) and then writes every job queued by
    then. Under load, a database's one writer at a
    time then pays the lock hand-over, the chain's tail and the commit's fsync once per group
    instead of once per request.

    A failure fails nobody else: a group that does not commit is rolled back and each of its
    jobs runs again in a transaction of its own, so the job at fault gets its own error and the
    others their results. Only a database that is away fails the whole group at once."""

    def __init__(
        self,
        sessions: SessionFactory,
        begin: Callable[[Session], B],
        max_group: int = MAX_GROUP,
    ) -> None:
        self._sessions = sessions
        self._max_group = max_group
        # Takes the lock every job needs (the chain's tail) before the group is formed: jobs
        # that queue while the writer waits for it, which under load is most of them, join.
        # What it returns is handed to every job of the group, in turn.
        self._begin = begin
        self._queued: deque[_Job[object]] = deque()
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def run(self, write: Callable[[Session, B], T]) -> T:
        job = _Job(write)
        with self._queue_lock:
            self._queued.append(job)  # type: ignore[arg-type]
        while not job.done.is_set():
            with self._turn:
                if job.done.is_set():
                    break  # written by the group ahead of us
                # Our job is still queued: a group sets its jobs done before the turn passes.
                self._write(None)
        return job.outcome()

    def _take(self) -> list[_Job[object]]:
        with self._queue_lock:
            count = min(len(self._queued), self._max_group)
            return [self._queued.popleft() for _ in range(count)]

    def _write(self, group: list[_Job[object]] | None) -> None:
        """Writes `group` in one transaction; None writes the jobs queued once it has begun."""
        jobs = group or []
        try:
            with transaction(self._sessions) as session:
                begun = self._begin(session)
                if group is None:
                    jobs = self._take()
                results = [job.write(session, begun) for job in jobs]
        except BaseException as exc:
            if group is None and not jobs:
                jobs = self._take()  # `begin` failed: the queued jobs share its outcome
            # With the database away, running each job alone would only fail each one again.
            if len(jobs) > 1 and isinstance(exc, Exception) and not is_unavailable(exc):
                for job in jobs:
                    self._write([job])
                return
            for job in jobs:
                job.error = exc
                job.done.set()
            return
        for job, result in zip(jobs, results, strict=True):
            job.result = result
            job.done.set()
