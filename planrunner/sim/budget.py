"""The request budget Kiwoom enforces per app key, for `planrunner sim --rate-limit`.

Kiwoom refuses a key's request over its budget with HTTP 429 and return_code 5: code
1700 when one api-id is over its own rate, 1701 when the key is over its overall rate;
nothing is executed. Published figures disagree (about 1/s per api-id on mock with a
burst of 2; 5-20/s overall on live), so the profiles below are the cautious readings the
client itself is configured with: a client that keeps to them is never refused, several
clients on one key that each keep to them are.

Each key has a token bucket per api-id and one overall, on the real (monotonic) clock
whatever the simulator's own clock does. A request is counted when the simulator reads
it, which is not when the client sent it: two requests sent a second apart can arrive
closer together. `slack` (seconds) forgives that much arrival jitter (the buckets hold
`slack x rate` more than their burst); it never forgives a sustained excess.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from planrunner.sim.protocol import RC_RATE, SimError

SLACK = 0.5  # seconds of arrival jitter forgiven


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    per_second: float
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What one app key may send: per api-id, overall, with `slack` seconds of jitter."""

    per_api: Limit
    overall: Limit
    slack: float = SLACK


PROFILES = {
    "mock": Budget(per_api=Limit(per_second=1, burst=2), overall=Limit(per_second=3, burst=3)),
    "live": Budget(per_api=Limit(per_second=3, burst=3), overall=Limit(per_second=8, burst=8)),
}


@dataclass(slots=True)
class _Bucket:
    limit: Limit
    capacity: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.limit.per_second)
        self.stamp = now


@dataclass(slots=True)
class Enforcer:
    """The buckets of every key seen; `check` spends one request or refuses it."""

    budget: Budget
    monotonic: Callable[[], float] = time.monotonic
    refused: int = 0
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def _bucket(self, key: str, name: str, limit: Limit, now: float) -> _Bucket:
        b = self._buckets.get((key, name))
        if b is None:
            capacity = limit.burst + self.budget.slack * limit.per_second
            b = self._buckets[(key, name)] = _Bucket(limit, capacity, capacity, now)
        b.refill(now)
        return b

    def check(self, key: str, api_id: str) -> None:
        """Spend one request of `key` on `api_id`, or raise Kiwoom's refusal (1700: the
        api-id's rate, 1701: the key's overall rate). A refused request spends nothing."""
        now = self.monotonic()
        api = self._bucket(key, "api:" + api_id, self.budget.per_api, now)
        overall = self._bucket(key, "overall", self.budget.overall, now)
        if api.tokens < 1.0:
            self.refused += 1
            raise SimError(
                return_code=RC_RATE,
                code=1700,
                message=f"허용된 요청 개수를 초과하였습니다. API ID={api_id}",
                status=429,
            )
        if overall.tokens < 1.0:
            self.refused += 1
            raise SimError(
                return_code=RC_RATE,
                code=1701,
                message="허용된 요청 개수를 초과하였습니다",
                status=429,
            )
        api.tokens -= 1.0
        overall.tokens -= 1.0
