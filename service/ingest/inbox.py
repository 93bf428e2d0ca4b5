"""The hand-off from the requests of this process to its match worker: sightings committed and
waiting to be matched, in the order they committed."""

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.detection.hashes import SightingPrints


@dataclass(frozen=True)
class Received:
    """What the leak decision needs of a sighting (desk.decision.Seen), and what it is searched with."""

    id: UUID
    content_key: str
    received_at: datetime
    found_at: datetime | None
    prints: SightingPrints


class Inbox:
    """A queue that remembers what is not yet done, so a caller can wait for the workers to
    catch up (`wait_idle`): the tests do, to read the state a security analyst sees a moment
    after the receipt. Items left in it when the process stops are still queued in the
    database; the next start matches them."""

    def __init__(self) -> None:
        self._items: deque[Received] = deque()
        self._changed = threading.Condition()
        self._held: set[UUID] = set()  # put and not yet done
        self._closed = False

    def put(self, items: Sequence[Received]) -> None:
        if not items:
            return
        with self._changed:
            self._items.extend(items)
            self._held.update(item.id for item in items)
            self._changed.notify_all()

    def take(self, most: int, timeout: float) -> list[Received]:
        """Up to `most` items, waiting up to `timeout` seconds for the first; [] once closed."""
        with self._changed:
            if not self._items and not self._closed:
                self._changed.wait(timeout)
            count = min(len(self._items), most)
            return [self._items.popleft() for _ in range(count)]

    def done(self, items: Sequence[Received]) -> None:
        with self._changed:
            self._held.difference_update(item.id for item in items)
            self._changed.notify_all()

    def held(self) -> frozenset[UUID]:
        """The sightings handed to this process and not yet done: a sweep leaves them alone."""
        with self._changed:
            return frozenset(self._held)

    def wait_idle(self, timeout: float) -> bool:
        """True once every item put is done; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
