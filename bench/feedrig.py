"""The rig bench/trigger.py and bench/fills.py share: a simulator on 127.0.0.1 (REST and
WebSocket on one port, RealClock, prices moved by the bench alone: no random walk), the
real client with a rate-limit shape, and the real
Runner + Executor + TriggerWatcher + OrderWatch + Journal, wired to the live feed exactly
as `planrunner run` wires it (app/launch.py) or polling only (`--no-feed`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import summary

ROOT = Path(__file__).resolve().parent.parent
# No random walk (a step every 24 h): a price the bench sets holds until it sets another.
# With the simulator's default walk (a tick up or down every 10 s, each 25 %), a crossing
# one tick below a trigger's level walked back above it before a slow poll read it: the
# trigger bench counted that as a missed reaction, or as a 20 s one when the price
# walked back down later.
SCENARIO = "walk_every: 24h\ncodes: open\ndefault: {price: 70000, fill: full}\n"
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
        if self.runner.ex.standing is not None:
            self.runner.ex.standing.close()
        self.journal.close()
        self.client.close()
        self.server.close()


def start(plan_of: Callable[[dt.datetime], Any], *, feed: bool, limit: str, tmp: Path) -> Rig:
    """A fresh simulator, client and runner for the plan `plan_of(now)` builds; the run
    goes on a thread. Every event is kept with the wall-clock time it was emitted (the
    moment its line would be printed)."""
    from planrunner.app.launch import feed_prices, open_feed
    from planrunner.clock import RealClock
    from planrunner.engine.execute import Executor
    from planrunner.engine.journal import Journal
    from planrunner.engine.runner import Runner
    from planrunner.kiwoom.client import KiwoomClient
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
    if feed:
        push, pokes = feed_prices(ex)
        live = open_feed(server.ws_url, client, plan, push)
        if ex.standing is not None:
            ex.standing.heard = lambda: live.heard
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


# ---- what bench/trigger.py and bench/fills.py print and take alike -------------------------


def parse(ap: argparse.ArgumentParser) -> tuple[argparse.Namespace, list[str]]:
    """The options both benches take besides their own (`--limits`, `--seeds`,
    `--no-write`, `--summary`), parsed; with the rate-limit shapes asked for."""
    ap.add_argument("--limits", default="mock,live", help="rate-limit shapes: none,mock,live")
    ap.add_argument("--seeds", type=int, default=3, help="runs (random seeds) per row")
    ap.add_argument("--no-write", action="store_true", help="print only")
    summary.add_option(ap)
    args = ap.parse_args()
    args.argv = summary.own_argv(sys.argv[1:])
    return args, [x.strip() for x in args.limits.split(",") if x.strip()]


def heading(bench: str, args: argparse.Namespace, load: tuple[float, float]) -> str:
    """How the bench was run, on what, under which load: its report's first words."""
    command = f"python bench/{bench}.py" + "".join(f" {a}" for a in args.argv)
    return (
        f"Command: `{command}` (from the repo root, in `.venv`). Machine: {machine()};"
        f" commit {commit()}; load average {load[0]:.2f} before, {load[1]:.2f} after."
    )


def source(feed: bool) -> str:
    return "feed" if feed else "polling"


def figures(values: list[float], misses: list[str]) -> str:
    """A report row's count (and how many were missed), p50, p99 and max (ms) cells."""
    missed = f" (+{len(misses)} missed)" if misses else ""
    return (
        f"{len(values)}{missed} | {pct(values, 50):.1f} | {pct(values, 99):.1f}"
        f" | {max(values, default=float('nan')):.1f}"
    )


def missed(row: str, misses: list[str]) -> list[str]:
    """The report's notes on why the row `row` missed what it missed, each reason once."""
    return [f"\nMissed ({row}): {why}." for why in sorted(set(misses))]


def row(*cells: object) -> str:
    """A line of a report's table."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(first: str, columns: list[str], rows: list[str], notes: list[str]) -> str:
    """A bench's report: `first` (its heading), the table of `rows` under `columns`, then
    the `notes`."""
    return "\n".join([first, "", row(*columns), "|" + "---|" * len(columns), *rows, *notes, ""])


def publish(section: str, text: str, args: argparse.Namespace, rows: list[Any]) -> None:
    """Print the report, write it into docs/performance.md (unless `--no-write`) and the
    goal rows into `--summary`."""
    print(text)
    if not args.no_write:
        summary.write_doc_section(section, text)
        print("written to docs/performance.md")
    summary.write(args.summary, rows)
