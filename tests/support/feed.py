"""A live simulator for feed tests: REST and WebSocket on one 127.0.0.1 port, a manual
clock, a KiwoomClient aimed at it, and a listener that records what the feed delivers
and lets a test wait for it (generous bounded waits on events, never on time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from planrunner.clock import ManualClock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.feed import Feed, OrderEvent, PriceTick
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.sim import Simulator
from planrunner.sim.scenario import parse_scenario
from planrunner.sim.server import SimServer
from tests.support.sim import STILL, at

WAIT = 30.0  # seconds: a bound for a loaded machine, never a measurement


class Recorder:
    """The feed's listener: every tick, order event and state change, in order."""

    def __init__(self) -> None:
        self.ticks: list[PriceTick] = []
        self.events: list[OrderEvent] = []
        self.states: list[tuple[bool, str]] = []
        self.gaps: list[str] = []
        self.orders_registered = 0  # `00` registrations the broker acknowledged
        self._cond = threading.Condition()

    def price(self, tick: PriceTick) -> None:
        with self._cond:
            self.ticks.append(tick)
            self._cond.notify_all()

    def order(self, event: OrderEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def state(self, up: bool, why: str) -> None:
        with self._cond:
            self.states.append((up, why))
            self._cond.notify_all()

    def orders_live(self) -> None:
        with self._cond:
            self.orders_registered += 1
            self._cond.notify_all()

    def gap(self, why: str) -> None:
        with self._cond:
            self.gaps.append(why)
            self._cond.notify_all()

    def wait(self, what: Callable[[Recorder], Any], timeout: float = WAIT) -> Any:
        """Wait until `what(self)` is truthy (checked on every delivery, and every 20 ms for
        what the simulator's side holds); fail the test after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (ok := what(self)) and time.monotonic() < deadline:
                self._cond.wait(0.02)
        assert ok, f"not seen within {timeout} s: ticks={self.ticks} states={self.states}"
        return ok

    def prices(self, symbol: str = "005930") -> list[int]:
        with self._cond:
            return [t.price for t in self.ticks if t.symbol == symbol]

    def kinds(self) -> list[str]:
        with self._cond:
            return [e.kind for e in self.events]


@dataclass
class Live:
    sim: Simulator
    server: SimServer
    client: KiwoomClient
    clock: ManualClock

    def feed(self, rec: Recorder, **options: Any) -> Feed:
        options.setdefault("backoff", (0.05, 0.5))
        options.setdefault("close_timeout", 0.2)
        return self.client.feed(rec, **options)

    def session(self) -> Any:
        sessions = self.sim.hub.sessions()
        assert len(sessions) == 1, sessions
        return sessions[0]


@contextmanager
def live_sim(scenario: str = STILL, *, ping_interval: float = 0.2) -> Iterator[Live]:
    clock = ManualClock(at(10, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(scenario))
    sim.ws_ping_interval = ping_interval
    with (
        sim.serve() as server,
        KiwoomClient(
            appkey="feed-appkey-1",
            secretkey="feed-secret-1",
            env="mock",
            base_url=server.url,
            clock=clock,
            rate_limits=RateLimits(),
        ) as client,
    ):
        yield Live(sim=sim, server=server, client=client, clock=clock)


@contextmanager
def feed_up(
    scenario: str = STILL, *, prices: bool = True, orders: bool = False, **options: Any
) -> Iterator[tuple[Live, Recorder, Feed]]:
    """A live simulator and a started feed watching 005930's prices and/or the account's
    order events, once the simulator holds the subscription (`options`: the feed's, as
    `Live.feed`)."""
    with live_sim(scenario) as live:
        rec = Recorder()
        with live.feed(rec, **options) as feed:
            if prices:
                feed.watch_prices(["005930"])
            if orders:
                feed.watch_orders()
            feed.start()
            assert feed.wait_up(WAIT)
            if prices:
                rec.wait(lambda r: live.sim.hub.wants_prices())
            if orders:  # the simulator took the registration, and the feed heard it did
                rec.wait(lambda r: r.orders_registered > 0 and live.session().wants("00", ""))
            yield live, rec, feed
