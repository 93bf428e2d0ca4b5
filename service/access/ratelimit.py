"""Requests per minute per API key, limit set by role: one GCRA bucket per key, in this process."""

import math
import threading
import time
from collections.abc import Callable, Mapping
from uuid import UUID

from service.access.actors import Actor, Role
from service.errors import RateLimited
from service.settings import Settings

Ticks = Callable[[], float]
"""Seconds on a clock that only moves forward; time.monotonic unless a test drives it."""


class RateLimiter:
    """GCRA (the token bucket kept as one number): each key has a theoretical arrival time,
    `tat`, that every allowed request pushes on by one emission interval (60 s / limit). A
    request is allowed while `tat` is at most one minute ahead of now, so an idle key may burst
    its whole per-minute budget and then gets the steady rate. Each key has its own `tat`, so
    one key flooding never uses up another's budget, whatever their roles.

    O(1) per request and never waits: the lock only guards a dict lookup and a few float
    operations, and a refused request is answered at once with how long to wait. Entries are
    kept per authenticated key, so memory is bounded by the number of keys issued."""

    def __init__(self, per_minute: Mapping[Role, int], clock: Ticks = time.monotonic) -> None:
        self._interval = {role: 60.0 / limit for role, limit in per_minute.items() if limit > 0}
        self._clock = clock
        self._tat: dict[UUID, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Ticks = time.monotonic) -> "RateLimiter":
        return cls(
            {
                Role.CRAWLER: settings.rate_limit_crawler,
                Role.MARKETING: settings.rate_limit_marketing,
                Role.SECURITY: settings.rate_limit_security,
                Role.ADMIN: settings.rate_limit_admin,
            },
            clock,
        )

    def check(self, actor: Actor) -> None:
        """Counts one request by the actor's key, or raises RateLimited without counting it.
        Callers without a key (the system itself) and roles whose limit is 0 are not limited."""
        interval = self._interval.get(actor.role)
        if interval is None or actor.key_id is None:
            return
        # The burst tolerance: a full minute's budget minus the request being decided.
        tolerance = 60.0 - interval
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(actor.key_id, now), now)
            ahead = tat - now
            # The epsilon absorbs float rounding in the summed intervals (60 / 7 is not exact),
            # which would otherwise refuse the last request of a full burst.
            if ahead > tolerance + 1e-9:
                wait = ahead - tolerance
            else:
                self._tat[actor.key_id] = tat + interval
                return
        # Retry-After is in whole seconds: rounding up means a client that waits as told is let in.
        raise RateLimited(
            f"this {actor.role} key is over its limit of {round(60.0 / interval)} requests per "
            "minute; retry after the number of seconds in Retry-After",
            retry_after=max(1, math.ceil(wait)),
        )
