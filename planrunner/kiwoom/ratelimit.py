"""Token buckets per api-id plus one overall: the client waits rather than be refused.

Published limits disagree (about 1 request/s per api-id with a burst of 2 on mock, up to
5–20/s overall on live), so the shape is configurable and the defaults are cautious. A
call takes a token from its api-id's bucket and from the overall bucket at once, when
both have one; callers wait in one line ordered by priority (orders, then the reads that
decide an order in flight, then polls, then background reads), then by arrival.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

OVERALL = "*"  # the overall bucket's name in `owed()`


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimits:
    """`per_api` overrides `default` for one api-id; None anywhere means unlimited."""

    default: Rate | None = None
    per_api: Mapping[str, Rate | None] = field(default_factory=dict)
    overall: Rate | None = None

    def for_api(self, api_id: str) -> Rate | None:
        return self.per_api.get(api_id, self.default)

    @classmethod
    def for_env(cls, env: str) -> RateLimits:
        """Defaults: cautious on mock, moderate on live, unlimited on our simulator."""
        if env == "mock":
            return cls(default=Rate(per_second=1, burst=2), overall=Rate(per_second=3, burst=3))
        if env == "live":
            return cls(default=Rate(per_second=3, burst=3), overall=Rate(per_second=8, burst=8))
        return cls()


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often the client resends what provably was not executed."""

    rate_limited: int = 4  # resends after 1700–1702 / HTTP 429
    not_connected: int = 2  # resends after a connection that was never made
    read_failures: int = 2  # resends of a read (ka*) after 5xx / 1999 / timeout / drop
    backoff: float = 0.25  # seconds; doubles per attempt
    max_backoff: float = 4.0


class Attempts:
    """The resends one call has left, per reason; each resend first sleeps its backoff."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        self._limits = {
            "rate": policy.rate_limited,
            "connect": policy.not_connected,
            "read": policy.read_failures,
        }
        self._policy = policy
        self._sleep = sleep
        self._used: dict[str, int] = {}

    def again(self, why: Literal["rate", "connect", "read"], after: float | None = None) -> bool:
        """Sleep and return True if one more resend is allowed; `after`: the broker's
        Retry-After, honoured up to 30 s."""
        used = self._used.get(why, 0)
        if used >= self._limits[why]:
            return False
        self._used[why] = used + 1
        backoff = min(self._policy.max_backoff, self._policy.backoff * 2**used)
        self._sleep(backoff if after is None else min(after, 30.0))
        return True


ORDER, DECIDING, POLL, BACKGROUND = 0, 1, 2, 3  # priorities: lower goes first


_RAISED: contextvars.ContextVar[int] = contextvars.ContextVar("rate_priority", default=POLL)


def priority_of(api_id: str) -> int:
    """Orders (kt10000-kt10003) first, then the reads that decide an order in flight
    (made inside `deciding()`: a job's checks, reconciliation's lists), then everything
    else (trigger price polls, the watch on open orders and fills, code lookups)."""
    if api_id.startswith("kt"):
        return ORDER
    return _RAISED.get()


@contextlib.contextmanager
def background() -> Iterator[None]:
    """The reads made in this block (this thread) only keep something ready ahead of
    need (the standing list of open orders a place's twins come from while the live
    feed is up): they go after everything else, trigger polls included."""
    token = _RAISED.set(BACKGROUND)
    try:
        yield
    finally:
        _RAISED.reset(token)


@contextlib.contextmanager
def deciding() -> Iterator[None]:
    """The reads made in this block (this thread) decide an order about to be sent (a
    job's checks: the quote for the price limits, the open orders): they go before price
    polls."""
    token = _RAISED.set(DECIDING)
    try:
        yield
    finally:
        _RAISED.reset(token)


class _Bucket:
    """A token bucket; a token is taken only when one is there."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.stamp = max(self.stamp, now)

    def available(self, now: float) -> bool:
        """Whether a token could be taken now without waiting (nothing is taken)."""
        return self.wait(now) == 0.0

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        self.refill(now)
        short = 1.0 - self.tokens
        return 0.0 if short <= 1e-9 else short / self.rate.per_second


@dataclass(order=True, frozen=True, slots=True)
class _Ticket:
    priority: int
    seq: int
    api_id: str = field(compare=False)


class RateLimiter:
    """The buckets and the line of callers waiting for them.

    A caller takes a token from its api-id's bucket and from the overall one when both
    have one and no caller ahead of it in the line could take them: the line is ordered
    by priority (`priority_of`), then by arrival. A caller ahead that waits only for its
    own api-id's bucket does not hold back the others. So a busy trigger poll never makes
    an order wait longer than the overall bucket's next token."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._buckets: dict[str, _Bucket] = {}
        self._overall = _Bucket(limits.overall, monotonic()) if limits.overall else None
        self._line: list[_Ticket] = []
        self._seq = 0
        self.granted: dict[int, int] = {}  # priority -> tokens taken (for the benches)

    def _bucket(self, api_id: str, now: float) -> _Bucket | None:
        rate = self.limits.for_api(api_id)
        if rate is None:
            return None
        bucket = self._buckets.get(api_id)
        if bucket is None:
            bucket = self._buckets[api_id] = _Bucket(rate, now)
        return bucket

    def _own_wait(self, api_id: str, now: float) -> float:
        bucket = self._bucket(api_id, now)
        return bucket.wait(now) if bucket is not None else 0.0

    def _wait(self, ticket: _Ticket | None, api_id: str, now: float) -> float | None:
        """Seconds until `api_id` may go (0: now); None: it may not go before a caller
        ahead of it in the line, who could go now."""
        own = self._own_wait(api_id, now)
        overall = self._overall.wait(now) if self._overall is not None else 0.0
        wait = max(own, overall)
        if wait > 0:
            return wait
        for other in self._line:
            if ticket is not None and not other < ticket:
                break
            if other is not ticket and self._own_wait(other.api_id, now) == 0:
                return None
        return 0.0

    def _take(self, api_id: str, priority: int, now: float) -> None:
        if self._overall is not None:
            self._overall.tokens -= 1.0
        bucket = self._bucket(api_id, now)
        if bucket is not None:
            bucket.tokens -= 1.0
        self.granted[priority] = self.granted.get(priority, 0) + 1
        self._cond.notify_all()  # who deferred to this caller may go now

    def owed(self) -> dict[str, float]:
        """Seconds until each bucket not full is full again, by api-id (`OVERALL` for
        the overall one): what this process leaves the next one on the same key, which
        the broker counts as one (app/several.py `hold_key`)."""
        with self._cond:
            now = self._monotonic()
            named = [(OVERALL, self._overall)] if self._overall is not None else []
            out = {}
            for name, bucket in [*named, *self._buckets.items()]:
                bucket.refill(now)
                short = bucket.rate.burst - bucket.tokens
                if short > 1e-9:
                    out[name] = short / bucket.rate.per_second
            return out

    def owe(self, owed: Mapping[str, float]) -> None:
        """Start from what a process before this one left on the key (`owed()`, counted
        from now): each bucket named holds only what it has refilled since, so a run
        restarted at once does not spend a burst the broker still counts as spent."""
        with self._cond:
            now = self._monotonic()
            for name, seconds in owed.items():
                bucket = self._overall if name == OVERALL else self._bucket(name, now)
                if bucket is None or seconds <= 0:
                    continue
                bucket.refill(now)
                left = bucket.rate.burst - seconds * bucket.rate.per_second
                bucket.tokens = min(bucket.tokens, max(0.0, left))

    @property
    def limited(self) -> bool:
        """Whether any rate is limited at all (the simulator's client is not)."""
        lim = self.limits
        return bool(lim.overall or lim.default or any(lim.per_api.values()))

    def free(self, api_id: str) -> bool:
        """Whether one call of `api_id` could be sent now without waiting (nothing is
        taken): a background read goes only then, so it never delays an order."""
        with self._cond:
            now = self._monotonic()
            return self._wait(_Ticket(priority_of(api_id), -1, api_id), api_id, now) == 0

    def try_acquire(self, api_id: str, priority: int | None = None) -> bool:
        """Take a slot for one call of `api_id` only if it needs no wait."""
        prio = priority_of(api_id) if priority is None else priority
        with self._cond:
            now = self._monotonic()
            probe = _Ticket(prio, -1, api_id)  # ahead of its equals: it does not wait
            if self._wait(probe, api_id, now) != 0:
                return False
            self._take(api_id, prio, now)
            return True

    def acquire(self, api_id: str, priority: int | None = None) -> float:
        """Wait until one call of `api_id` may be sent; returns the seconds waited."""
        prio = priority_of(api_id) if priority is None else priority
        start = self._monotonic()
        with self._cond:
            self._seq += 1
            ticket = _Ticket(prio, self._seq, api_id)
            self._line.append(ticket)
            self._line.sort()
            try:
                while True:
                    now = self._monotonic()
                    wait = self._wait(ticket, api_id, now)
                    if wait == 0:
                        self._take(api_id, prio, now)
                        break
                    log.debug("%s: waiting for the rate limit", api_id)
                    if self._sleep is time.sleep:
                        self._cond.wait(0.05 if wait is None else wait)
                    else:  # an injected clock: its sleep moves its time
                        self._cond.release()
                        try:
                            self._sleep(0.0 if wait is None else wait)
                        finally:
                            self._cond.acquire()
            finally:
                self._line.remove(ticket)
        return self._monotonic() - start
