"""The rig bench/trigger.py and bench/fills.py share: a simulator on 127.0.0.1 (REST and
WebSocket on one port, RealClock), the real client with a rate-limit shape, and the real
Runner + Executor + TriggerWatcher + OrderWatch + Journal, wired to the live feed exactly
as `planrunner run` wires it (app/launch.py) or polling only (`--no-feed`).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import summary

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "codes: open\ndefault: {price: 70000, fill: full}\n"
MARKET = 70_000
LIMITS = ("none", "mock", "live")


def symbols(n: int) -> list[str]:
    """`n` codes the open simulator trades at its default price (none of them real)."""
    return [f"{900000 + i:06d}" for i in range(n)]


def limits(name: str) -> Any:
    """The client's rate limits: none (the simulator's own), or the mock or live defaults."""
    from planrunner.kiwoom.ratelimit import RateLimits

    return RateLimits() if name == "none" else RateLimits.for_env(name)


@dataclass
class Rig:
    sim: Any
    server: Any
    client: Any
    clock: Any
    journal: Any
    runner: Any
    push: Any  # PushPrices with the feed, else None
    feed: Any
    stop: threading.Event
    thread: threading.Thread
    printed: list[tuple[float, Any]] = field(default_factory=list)  # (time.time(), event)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)
        if self.feed is not None:
            self.feed.close()
        self.journal.close()
        self.client.close()
        self.server.close()


def start(plan_of: Callable[[dt.datetime], Any], *, feed: bool, limit: str, tmp: Path) -> Rig:
    """A fresh simulator, client and runner for the plan `plan_of(now)` builds; the run
    goes on a thread. Every event is kept with the wall-clock time it was emitted (the
    moment its line would be printed)."""
    from planrunner.clock import RealClock
    from planrunner.engine.execute import Executor
    from planrunner.engine.journal import Journal
    from planrunner.engine.pushprices import PushPrices
    from planrunner.engine.runner import Runner
    from planrunner.engine.triggers import symbols_of
    from planrunner.kiwoom.client import KiwoomClient
    from planrunner.kiwoom.feed import Feed
    from planrunner.sim import Simulator, parse_scenario

    clock = RealClock()
    sim = Simulator(clock=clock, scenario=parse_scenario(SCENARIO), enforce_session=False)
    server = sim.serve()
    client = KiwoomClient(
        appkey="k", secretkey="s", env="sim", base_url=server.url, rate_limits=limits(limit)
    )
    client.token()
    plan = plan_of(clock.now())
    printed: list[tuple[float, Any]] = []

    def emit(event: Any) -> None:
        printed.append((time.time(), event))

    journal = Journal(tmp / "journal.jsonl")
    journal.open()
    stop = threading.Event()
    ex = Executor(
        plan=plan, client=client, journal=journal, clock=clock, emit=emit, enforce_session=False
    )
    push = live = None
    pokes: list[Callable[[Any], None]] = []

    def on_order(event: Any) -> None:
        ex.note_pushed(event)
        for poke in pokes:
            poke(event)

    if feed:
        push = PushPrices(
            poll=lambda s: ex.quote(s, source="poll").price,
            emit=emit,
            clock=clock,
            on_order=on_order,
            observe=lambda s, p: ex.prices.observe(s, p, source="feed"),
            free=lambda: client.limiter.free("ka10001"),
        )
        live = Feed(server.ws_url, client.tokens, push.listener())
        live.watch_prices(sorted({s for t in plan.triggers for s in symbols_of(t.when)}))
        live.watch_orders()
        live.start()
    runner = Runner(
        plan=plan,
        executor=ex,
        journal=journal,
        clock=clock,
        emit=emit,
        stop=stop,
        prices=push,
        watch_orders=True,
    )
    if runner.orders is not None:
        pokes.append(runner.orders.poke)
    thread = threading.Thread(target=runner.run, name="bench-runner", daemon=True)
    thread.start()
    return Rig(sim, server, client, clock, journal, runner, push, live, stop, thread, printed)


def until(check: Callable[[], bool], limit: float, step: float = 0.002) -> bool:
    """Wait for `check` until the monotonic `limit`."""
    while not check():
        if time.monotonic() > limit:
            return False
        time.sleep(step)
    return True


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation between closest ranks."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def machine() -> str:
    return f"nproc {os.cpu_count()}, {summary.cpu_model()}, Python {platform.python_version()}"


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"
