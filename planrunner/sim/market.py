"""The simulated market: one price per symbol, moved by its scenario path or a seeded walk.

Deterministic: `advance(now)` replays every path point and walk step up to `now` in time
order, whatever the pattern of requests that triggered it, so the same scenario, seed and
clock give the same prices and fills.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from planrunner.krx import instruments
from planrunner.krx.ticks import band, step
from planrunner.sim.scenario import Scenario, SymbolScenario

MAX_WALK_STEPS = 100_000  # per advance: a clock jump of days does not spin forever
HISTORY_LIMIT = 100_000  # price changes kept per symbol (the oldest are dropped)


def daily_limits(base: int, kind: str = "stock") -> tuple[int, int]:
    """KRX ±30% price limits on the instrument's tick grid: (lower, upper)."""
    return band(base, 30, kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    symbol: str
    name: str
    price: int
    base: int
    lower: int
    upper: int


class _Symbol:
    __slots__ = (
        "base",
        "history",
        "kind",
        "lower",
        "name",
        "next_walk",
        "points",
        "price",
        "rng",
        "spec",
        "upper",
    )

    def __init__(self, spec: SymbolScenario, day: dt.date, start: dt.datetime, seed: int):
        self.spec = spec
        self.name = spec.name or spec.symbol
        self.base = spec.base
        self.kind = instruments.kind_of(spec.symbol, spec.kind)
        self.lower, self.upper = daily_limits(spec.base, self.kind)
        self.price = spec.price
        self.points = sorted(
            ((p.resolve(day, start), p.price) for p in spec.path), key=lambda tp: tp[0]
        )
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.next_walk: dt.datetime | None = start if spec.walk else None
        # Every price the symbol took and the instant it took it (changes only), oldest first.
        self.history: deque[tuple[dt.datetime, int]] = deque(maxlen=HISTORY_LIMIT)
        self.history.append((start, self.price))

    def record(self, at: dt.datetime, price: int) -> None:
        self.price = price
        if self.history[-1][1] != price:
            self.history.append((at, price))

    def clamp(self, price: int) -> int:
        return min(max(price, self.lower), self.upper)


class Market:
    def __init__(
        self, scenario: Scenario, *, day: dt.date, start: dt.datetime, seed: int = 0
    ) -> None:
        self.scenario = scenario
        self.day = day
        self.start = start
        self.seed = seed
        self.now = start
        self._symbols: dict[str, _Symbol] = {}
        for code in scenario.symbols:
            self.symbol(code)

    def symbol(self, code: str) -> _Symbol:
        s = self._symbols.get(code)
        if s is None:
            s = _Symbol(self.scenario.for_symbol(code), self.day, self.start, self.seed)
            # Points already past when the symbol is first seen set its price silently.
            for _ in self._events(s, self.now):
                pass
            self._symbols[code] = s
        return s

    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    def advance(self, now: dt.datetime) -> Iterator[tuple[str, int, dt.datetime]]:
        """Yield (symbol, price, the instant it took that price) for every price event up
        to `now`, in time order per symbol: the market is played when someone asks, but
        each event keeps its own time (a fill it causes is timed by it, not by the ask)."""
        if now <= self.now:
            return
        self.now = now
        for code in sorted(self._symbols):
            s = self._symbols[code]
            for at, price in self._events(s, now):
                yield code, price, at

    def _events(self, s: _Symbol, now: dt.datetime) -> Iterator[tuple[dt.datetime, int]]:
        every = self.scenario.walk_every
        steps = 0
        while True:
            point_at = s.points[0][0] if s.points else None
            walk_at = s.next_walk
            if walk_at is not None and steps >= MAX_WALK_STEPS:
                walk_at = s.next_walk = now + every
            due = [t for t in (point_at, walk_at) if t is not None and t <= now]
            if not due:
                return
            if point_at is not None and point_at == min(due):
                at = point_at
                s.record(point_at, s.clamp(s.points.pop(0)[1]))
            else:
                assert walk_at is not None
                at = walk_at
                s.next_walk = walk_at + every
                steps += 1
                r = s.rng.random()
                if r < 0.25:
                    s.record(walk_at, s.clamp(step(s.price, -1, s.kind)))
                elif r < 0.5:
                    s.record(walk_at, s.clamp(step(s.price, 1, s.kind)))
            yield at, s.price

    def set_price(self, code: str, price: int) -> int:
        if code not in self._symbols and code not in self.scenario.symbols:
            # The first price given to a symbol the scenario does not describe lists it:
            # that price becomes its base (and its limits), then it walks from there.
            spec = self.scenario.for_symbol(code)
            listed = SymbolScenario(
                symbol=code, price=price, base=price, max_fill=spec.max_fill, kind=spec.kind
            )
            self._symbols[code] = _Symbol(listed, self.day, self.now, self.seed)
        s = self.symbol(code)
        s.record(self.now, s.clamp(price))
        return s.price

    def declare_kind(self, code: str, kind: str) -> None:
        """Set a symbol's instrument kind (its grid), keeping its base and price."""
        s = self.symbol(code)
        if s.kind != kind:
            s.kind = kind
            s.lower, s.upper = daily_limits(s.base, kind)

    def history(self, code: str) -> list[tuple[dt.datetime, int]]:
        """Every price `code` took, with the instant it took it, oldest first: its starting
        price at the market's start, then each change by a path point, a walk step or
        `set_price` (the last HISTORY_LIMIT). Empty for a symbol the market never saw."""
        s = self._symbols.get(code)
        return list(s.history) if s is not None else []

    def quote(self, code: str) -> Quote:
        s = self.symbol(code)
        return Quote(
            symbol=code, name=s.name, price=s.price, base=s.base, lower=s.lower, upper=s.upper
        )
