"""The Simulator: market + broker + auth + faults + log behind one lock, and the two ways
to serve it (an httpx transport in-process, a loopback HTTP server).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planrunner.clock import Clock, VirtualClock
from planrunner.krx import days
from planrunner.sim import app
from planrunner.sim.auth import Auth, Env
from planrunner.sim.behaviour import Behaviour
from planrunner.sim.broker import Broker
from planrunner.sim.budget import PROFILES, Budget, Enforcer
from planrunner.sim.faults import Faults
from planrunner.sim.log import LogEntry
from planrunner.sim.market import Market, Quote
from planrunner.sim.orders import OrderView
from planrunner.sim.push import PING_INTERVAL, Hub
from planrunner.sim.reply import Reply
from planrunner.sim.scenario import Scenario, load_scenario

if TYPE_CHECKING:
    from planrunner.sim.server import SimServer
    from planrunner.sim.transport import SimTransport


def default_start(now: dt.datetime | None = None) -> dt.datetime:
    """09:00 of the next trading day, counting today (the plan's default day)."""
    day = days.default_plan_date(now)
    return dt.datetime.combine(day, days.session(day).regular.start, tzinfo=days.SEOUL)


def default_clock(speed: float = 1.0) -> VirtualClock:
    return VirtualClock(default_start(), speed)


class Simulator:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        scenario: Scenario | str | Path | None = None,
        seed: int = 0,
        env: Env = "mock",
        first_ord_no: int = 1,
        page_size: int = 100,
        enforce_session: bool = True,
        default_price: int | None = None,
        behaviour: Behaviour | dict[str, str] | None = None,
        codes: str | None = None,
        budget: Budget | str | None = None,
    ) -> None:
        """`budget`: the request budget enforced per app key (budget.py: a Budget, or a
        profile name, mock or live; None: unlimited). `behaviour`: the broker behaviours
        the documentation leaves open (behaviour.py); unset, the scenario's `broker:`
        section, else the defaults."""
        self.clock: Clock = clock or default_clock()
        if scenario is None:
            scenario = Scenario()
        elif not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if default_price is not None:
            scenario = dataclasses.replace(scenario, default_price=default_price)
        if codes is not None:  # listed | open: which codes trade (scenario.Scenario.codes)
            scenario = dataclasses.replace(scenario, codes=codes)
        start = self.clock.now()
        day = scenario.date or start.astimezone(days.SEOUL).date()
        self.scenario = scenario
        self.market = Market(scenario, day=day, start=start, seed=seed)
        if behaviour is None:
            behaviour = scenario.broker
        self.behaviour = Behaviour.parse(behaviour or {})
        self.broker = Broker(
            self.market,
            first_ord_no=first_ord_no,
            enforce_session=enforce_session,
            behaviour=self.behaviour,
        )
        self.auth = Auth(env)
        self.faults = Faults(seed)
        self.hub = Hub(self.faults)  # the WebSocket's sessions (sim/websocket.py)
        self.broker.hub = self.hub
        self.ws_ping_interval = PING_INTERVAL
        self.log: list[LogEntry] = []
        if isinstance(budget, str):
            budget = PROFILES[budget]
        self.budget = Enforcer(budget) if budget is not None else None
        self.page_size = page_size
        self.lock = threading.RLock()

    # ---- serving ------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        *,
        received: float | None = None,
    ) -> Reply:
        """Answer one HTTP request (header names lower-case); used by both servers.
        `received`: when it arrived (Unix time; now if not given), for the request log.
        Every answer carries a `Date` header on the simulator's clock, as a web server's
        does on its own."""
        reply = app.handle(self, method, path, headers, body, received=received)
        now = self.clock.now().astimezone(dt.UTC)
        return dataclasses.replace(
            reply, headers=(*reply.headers, ("date", email.utils.format_datetime(now, True)))
        )

    def transport(self) -> SimTransport:
        from planrunner.sim.transport import SimTransport

        return SimTransport(self)

    def serve(self, port: int = 0, host: str = "127.0.0.1", *, tick: float = 0.02) -> SimServer:
        """A loopback server for the REST API and the WebSocket on one port; `tick`: how
        often (real seconds) the market is played forward while prices are subscribed."""
        from planrunner.sim.server import SimServer

        return SimServer(self, host=host, port=port, tick=tick)

    # ---- the truth ----------------------------------------------------------------------

    def advance(self) -> dt.datetime:
        """Play the market up to the clock's now (requests do this on their own)."""
        with self.lock:
            now = self.clock.now()
            self.broker.advance(now)
            return now

    def orders(self) -> dict[str, OrderView]:
        with self.lock:
            self.broker.advance(self.clock.now())
            return {no: o.view() for no, o in sorted(self.broker.orders.items())}

    def order(self, ord_no: str) -> OrderView:
        return self.orders()[ord_no]

    def log_snapshot(self) -> list[LogEntry]:
        with self.lock:
            return list(self.log)

    def quote(self, symbol: str) -> Quote:
        with self.lock:
            self.broker.advance(self.clock.now())
            return self.market.quote(symbol)

    def price_history(self, symbol: str) -> list[tuple[dt.datetime, int]]:
        """Every price `symbol` took up to the clock's now, with the (virtual) instant it
        took it, oldest first: the starting price, then each change by a path point, a walk
        step or `set_price`; the last 100,000 changes per symbol are kept. Empty for a
        symbol nobody asked about yet. The first entry at which a trigger's condition
        holds is the crossing its reaction time is counted from."""
        with self.lock:
            self.broker.advance(self.clock.now())
            return self.market.history(symbol)

    def status(self) -> dict[str, Any]:
        with self.lock:
            now = self.advance()
            quotes = {s: self.market.quote(s) for s in self.market.symbols()}
            return {
                "now": now.isoformat(),
                "env": self.auth.env,
                "tokens_issued": self.auth.issued,
                "quotes": {
                    s: {"price": q.price, "base": q.base, "lower": q.lower, "upper": q.upper}
                    for s, q in quotes.items()
                },
            }

    # ---- steering -----------------------------------------------------------------------

    def set_behaviour(self, behaviour: Behaviour | dict[str, str]) -> None:
        """Switch the broker behaviours the documentation leaves open (behaviour.py)."""
        with self.lock:
            self.behaviour = self.broker.behaviour = Behaviour.parse(behaviour)

    def set_next_ord_no(self, ord_no: int) -> None:
        """The number the next accepted order gets (to recreate an order a plan adopts)."""
        with self.lock:
            self.broker.next_ord_no = ord_no

    def set_price(self, symbol: str, price: int) -> int:
        """Set a symbol's price now (clamped to its daily limits); crossing orders fill."""
        with self.lock:
            return self.broker.set_price(symbol, price, self.clock.now())

    def declare_kind(self, symbol: str, kind: str) -> None:
        """A plan says what `symbol` is (stock, etf, etn): its tick grid and limits follow."""
        with self.lock:
            self.market.declare_kind(symbol, kind)

    def knows(self, symbol: str) -> bool:
        """Whether the scenario describes this symbol (else it walks around a default)."""
        return symbol in self.scenario.symbols

    def expire_tokens(self) -> int:
        with self.lock:
            return self.auth.invalidate_all()

    def register_key(self, appkey: str, secretkey: str, env: Env) -> None:
        """Declare a key pair as belonging to `env` (the other env answers 8030)."""
        with self.lock:
            self.auth.register_key(appkey, secretkey, env)

    def register_token(self, token: str, env: Env) -> None:
        """Declare a token as issued by `env` (the other env answers 8031)."""
        with self.lock:
            expires = self.clock.now() + dt.timedelta(days=1)
            self.auth.register_token(token, env, expires)
