"""Read-modify-writes are serialised on both back ends: of two conflicting moves sent at once,
exactly one wins (issue 19, item 4). Real threads, each with its own session and transaction."""

import threading
from collections.abc import Callable
from uuid import UUID

from service.access.actors import SYSTEM
from service.desk import leaks
from service.desk.leaks import LeakChange
from service.errors import InvalidTransition
from service.runtime import Runtime
from storage.db import transaction
from testing.images import jpeg
from tests.api_client import Api

TRIES = 100


def _at_once(*moves: Callable[[], None]) -> list[BaseException | None]:
    """Runs the moves in threads released together; what each raised, or None."""
    start = threading.Barrier(len(moves))
    outcomes: list[BaseException | None] = [None] * len(moves)

    def run(i: int) -> None:
        start.wait()
        try:
            moves[i]()
        except BaseException as exc:  # reported to the test, never lost in the thread
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(moves))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _move(runtime: Runtime, leak_id: UUID, status: str) -> Callable[[], None]:
    def move() -> None:
        with transaction(runtime.sessions) as session:
            leaks.update_leak(
                session, SYSTEM, leak_id, LeakChange(status=status), now=runtime.clock()
            )

    return move


def test_two_conflicting_triage_moves_at_once_never_both_win(api: Api) -> None:
    # From open, either may be made; after either, the other is not a valid move.
    other = "false_positive"
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    leak_id = UUID(leak["id"])
    for _ in range(TRIES):
        before = len(api.leak(leak["id"])["history"])
        outcomes = _at_once(_move(runtime, leak_id, "resolved"), _move(runtime, leak_id, other))
        assert [o is None for o in outcomes].count(True) == 1, outcomes
        assert all(isinstance(o, InvalidTransition) for o in outcomes if o is not None), outcomes
        after = api.leak(leak["id"])
        assert after["status"] == ("resolved" if outcomes[0] is None else other)
        assert len(after["history"]) == before + 1  # one move out of open, not two
        _move(runtime, leak_id, "open")()
