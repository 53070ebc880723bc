"""Token buckets per api-id plus one overall: the client waits rather than be refused.

Published limits disagree (about 1 request/s per api-id with a burst of 2 on mock, up to
5–20/s overall on live), so the shape is configurable and the defaults are cautious. A
call reserves a slot in its api-id's bucket and in the overall bucket at once, then
sleeps outside the lock until both allow it: threads queue fairly and never spin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)


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


class _Bucket:
    """A token bucket whose balance may go negative: a reservation is a place in line."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.stamp = now

    def available(self, now: float) -> bool:
        """Whether a token could be taken now without waiting (nothing is taken)."""
        elapsed = max(0.0, now - self.stamp)
        return min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second) >= 1.0

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it."""
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate.per_second


class RateLimiter:
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
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._overall = _Bucket(limits.overall, monotonic()) if limits.overall else None

    def reserve(self, api_id: str) -> float:
        """Reserve a slot for one call of `api_id`; the seconds to wait before sending."""
        with self._lock:
            now = self._monotonic()
            wait = self._overall.reserve(now) if self._overall else 0.0
            rate = self.limits.for_api(api_id)
            if rate is not None:
                bucket = self._buckets.get(api_id)
                if bucket is None:
                    bucket = self._buckets[api_id] = _Bucket(rate, now)
                wait = max(wait, bucket.reserve(now))
            return wait

    @property
    def limited(self) -> bool:
        """Whether any rate is limited at all (the simulator's client is not)."""
        lim = self.limits
        return bool(lim.overall or lim.default or any(lim.per_api.values()))

    def free(self, api_id: str) -> bool:
        """Whether one call of `api_id` could be sent now without waiting (nothing is
        taken): a background read goes only then, so it never delays an order."""
        with self._lock:
            now = self._monotonic()
            if self._overall is not None and not self._overall.available(now):
                return False
            bucket = self._buckets.get(api_id)
            return bucket is None or bucket.available(now)

    def try_acquire(self, api_id: str) -> bool:
        """Take a slot for one call of `api_id` only if it needs no wait."""
        with self._lock:
            now = self._monotonic()
            rate = self.limits.for_api(api_id)
            bucket = self._buckets.get(api_id)
            if rate is not None and bucket is None:
                bucket = self._buckets[api_id] = _Bucket(rate, now)
            if self._overall is not None and not self._overall.available(now):
                return False
            if bucket is not None and not bucket.available(now):
                return False
            if self._overall is not None:
                self._overall.reserve(now)
            if bucket is not None:
                bucket.reserve(now)
            return True

    def acquire(self, api_id: str) -> float:
        """Wait until one call of `api_id` may be sent; returns the seconds waited."""
        wait = self.reserve(api_id)
        if wait > 0:
            log.debug("%s: waiting %.3f s for the rate limit", api_id, wait)
            self._sleep(wait)
        return wait
