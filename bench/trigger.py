"""Trigger reaction time (price crossing -> first request the trigger sends) and the
request rate its polling costs.

    python bench/trigger.py [--trials 80] [--intervals 1,0.2] [--cost-seconds 10]
                            [--loopback] [--seed 0] [--no-write] [--summary FILE]

Issue 6, acceptance 5. Goal: reaction p99 <= one poll interval + 5 ms.

Each trial is a fresh simulator and a fresh run of the real Runner + Executor +
TriggerWatcher + Journal (fsynced, in a tmp dir) + KiwoomClient (env "sim": no client
rate limit), all on the RealClock (speed 1), in this process. The client reaches the
simulator through its in-process transport (`sim.transport()`), or over loopback HTTP
(`sim.serve()` on 127.0.0.1) with `--loopback`. The hand-built plan (as in
tests/support/rehearsal.py) places a resting sell (10 @ 71,000,
market 70,000) 50 ms after the start and has one trigger: `price 005930 below 69,000 ->
market` on it, with `policy.price_poll` set to the interval. Once the sell is placed and
the watcher has polled after it, the bench waits a uniformly random fraction of one
interval and calls `sim.set_price("005930", 68,900)`. Both ends are read on the
simulator's clock:
- crossing: the first `sim.price_history()` entry below 69,000 (the set_price instant);
- reaction: crossing -> receipt of the trigger's first order request (kt10003, the
  cancel that starts `market`), from the simulator's request log;
- detect: crossing -> receipt of the first ka10001 after it (the poll that sees it);
- act: that ka10001 -> the kt10003 (the rest of the tick, the fire, the pre-checks).
Polling cost: one more run per interval in which nothing crosses: the trigger waits
`--cost-seconds` with its order placed; the requests the simulator received from the
first poll to the last, per second: ka10001 for the watched symbol, and the reads of the
trigger's target order (ka10075/ka10076) the watcher adds.

A trial that does not fire within 5 intervals + 5 s is stopped and counted as a miss.
Prints the figures and rewrites the "Trigger" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import summary

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECTION = "Trigger"
PLACE_APIS = frozenset({"kt10000", "kt10001"})  # buy, sell
SYMBOL = "005930"
MARKET, SELL_AT, LEVEL, CRASH = 70_000, 71_000, 69_000, 68_900
PLACE_AFTER = 0.05  # seconds from the run's start to the resting order
GOAL_SLACK_MS = 5.0
SCENARIO = f'symbols: {{"{SYMBOL}": {{base: {MARKET}, price: {MARKET}, walk: false}}}}'


@dataclass
class Trial:
    reaction_ms: float
    detect_ms: float
    act_ms: float
    between: tuple[str, ...]  # api ids the simulator received between detect and cancel


@dataclass
class Series:
    interval: float
    trials: list[Trial] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    cost: Cost | None = None


@dataclass
class Cost:
    seconds: float  # from the first poll with the order placed to the last poll
    polls: int
    requests: Counter[str]  # by api id, in that span
    gaps: list[float]  # s between consecutive ka10001


# ---- one trial ----------------------------------------------------------------------------


def build_plan(interval: float, start: dt.datetime) -> Any:
    from planrunner.clock import SEOUL
    from planrunner.model import (
        CompiledPlan,
        Job,
        Market,
        OrderSpec,
        Place,
        Policy,
        PriceCond,
        Trigger,
    )

    spec = OrderSpec(id="exit", symbol=SYMBOL, side="sell", qty=10, price=SELL_AT)
    place = Job(
        id="exit.place",
        at=start + dt.timedelta(seconds=PLACE_AFTER),
        at_text="bench",
        order="exit",
        action=Place(spec=spec),
    )
    stop = Trigger(
        id="stop",
        when=PriceCond(symbol=SYMBOL, op="below", value=LEVEL),
        action=Market(order="exit"),
        between=(dt.time(0, 0), dt.time(23, 59, 59)),  # any hour: the bench runs any time
    )
    return CompiledPlan(
        name="bench-trigger",
        file="bench-trigger.yaml",
        day=start.astimezone(SEOUL).date(),
        tz=SEOUL,
        exchange="KRX",
        orders={"exit": spec},
        jobs=(place,),
        triggers=(stop,),
        policy=Policy(price_poll=dt.timedelta(seconds=interval)),
        run_start=start,
    )


def one_trial(
    interval: float, rng: random.Random, tmp: Path, loopback: bool, hold: float = 0.0
) -> Trial | Cost | str:
    """One run; with `hold`, no crossing: the trigger waits `hold` s and the polling it
    costs is counted instead."""
    from planrunner.clock import RealClock
    from planrunner.engine.events import Event
    from planrunner.engine.execute import Executor
    from planrunner.engine.journal import Journal
    from planrunner.engine.runner import Runner
    from planrunner.kiwoom.client import KiwoomClient
    from planrunner.sim import Simulator, parse_scenario

    clock = RealClock()
    midnight = dt.datetime.combine(
        clock.now().date() + dt.timedelta(days=1), dt.time(0), tzinfo=clock.now().tzinfo
    )
    if (midnight - clock.now()).total_seconds() < 30:  # the trigger's window is one day
        time.sleep((midnight - clock.now()).total_seconds() + 0.1)
    sim = Simulator(clock=clock, scenario=parse_scenario(SCENARIO), enforce_session=False)
    server = sim.serve() if loopback else None
    if server is not None:
        client = KiwoomClient(appkey="k", secretkey="s", env="sim", base_url=server.url)
    else:
        client = KiwoomClient(
            appkey="k", secretkey="s", env="sim", transport=sim.transport(), clock=clock
        )
    try:
        client.token()
        client.quote(SYMBOL)  # warm: the first request pays one-time costs
        plan = build_plan(interval, clock.now())
        events: list[Event] = []
        journal = Journal(tmp / "journal.jsonl")
        journal.open()
        stop = threading.Event()
        try:
            ex = Executor(
                plan=plan,
                client=client,
                journal=journal,
                clock=clock,
                emit=events.append,
                enforce_session=False,  # any hour; the simulator does not enforce either
            )
            runner = Runner(
                plan=plan,
                executor=ex,
                journal=journal,
                clock=clock,
                emit=events.append,
                stop=stop,
            )
            thread = threading.Thread(target=runner.run, name="bench-runner", daemon=True)
            thread.start()
            limit = time.monotonic() + PLACE_AFTER + 5 * interval + 5 + hold
            if hold:
                watched = until(lambda: any_after(sim, 0, *PLACE_APIS), limit)
                time.sleep(hold)
                stop.set()
                thread.join(10)
                return cost(sim, hold) if watched else "the resting order was not placed"
            mark = crash(sim, interval, rng, limit)
            if mark is None:
                stop.set()
                thread.join(10)
                return "the resting order was not placed"
            cancelled = until(lambda: any_after(sim, mark, "kt10003"), limit)
            # The run ends on its own one poll after the fire; stopping it now only saves
            # that wait (the fire, market order included, finishes before run() returns).
            stop.set()
            thread.join(10)
            if not cancelled:
                return "no cancel: the run was stopped at its time limit"
        finally:
            journal.close()
        return measure(sim, mark)
    finally:
        client.close()
        if server is not None:
            server.close()


def until(check: Callable[[], bool], limit: float) -> bool:
    while not check():
        if time.monotonic() > limit:
            return False
        time.sleep(0.002)
    return True


def any_after(sim: Any, mark: int, *api_ids: str) -> bool:
    return any(e.api_id in api_ids for e in sim.log_snapshot()[mark:])


def crash(sim: Any, interval: float, rng: random.Random, limit: float) -> int | None:
    """Wait for the resting sell and the watcher's next poll, then a uniformly random
    fraction of a poll interval; drop the price below the level. Returns the log position
    at the crossing (None if the sell never came)."""
    if not until(lambda: any_after(sim, 0, *PLACE_APIS), limit):
        return None
    placed = len(sim.log_snapshot())
    if not until(lambda: any_after(sim, placed, "ka10001"), limit):
        return None
    time.sleep(interval * rng.random())
    with sim.lock:  # no request is answered between the crossing and the mark
        sim.set_price(SYMBOL, CRASH)
        return len(sim.log)


def measure(sim: Any, mark: int) -> Trial | str:
    log = sim.log_snapshot()
    crossing = next((t for t, p in sim.price_history(SYMBOL) if p < LEVEL), None)
    if crossing is None:
        return "no crossing in the price history"
    after = log[mark:]
    cancel = next((e for e in after if e.api_id == "kt10003"), None)
    seen = next((e for e in after if e.api_id == "ka10001"), None)
    if cancel is None or seen is None:
        return "no cancel in the simulator's log"

    def ms(a: dt.datetime, b: dt.datetime) -> float:
        return (b - a).total_seconds() * 1000

    between = tuple(e.api_id for e in after if seen.seq < e.seq < cancel.seq)
    return Trial(
        reaction_ms=ms(crossing, cancel.at),
        detect_ms=ms(crossing, seen.at),
        act_ms=ms(seen.at, cancel.at),
        between=between,
    )


def cost(sim: Any, hold: float) -> Cost | str:
    """What the waiting trigger sent: from the first poll after the sell was placed to the
    last poll (all ka10001 and what each tick reads besides)."""
    log = sim.log_snapshot()
    placed = next(e.seq for e in log if e.api_id in PLACE_APIS and e.committed)
    polls = [e for e in log if e.seq > placed and e.api_id == "ka10001"]
    if len(polls) < 2:
        return f"fewer than 2 polls in {hold:g} s"
    span = [e for e in log if polls[0].seq <= e.seq < polls[-1].seq]
    times = [e.at for e in polls]
    return Cost(
        seconds=(times[-1] - times[0]).total_seconds(),
        polls=len(polls) - 1,
        requests=Counter(e.api_id for e in span),
        gaps=[(b - a).total_seconds() for a, b in itertools.pairwise(times)],
    )


# ---- figures ------------------------------------------------------------------------------


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
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}"


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def report(series: list[Series], args: argparse.Namespace, load: tuple[float, float]) -> str:
    how = "loopback HTTP (`sim.serve()`, 127.0.0.1)" if args.loopback else "in-process"
    command = "python bench/trigger.py" + "".join(f" {a}" for a in args.argv)
    lines = [
        f"Command: `{command}` (from the repo root, in `.venv`). Machine: {machine()}; "
        f"commit {commit()}; load average {load[0]:.2f} before, {load[1]:.2f} after. "
        f"Simulator reached {how}; RealClock (speed 1); one fresh simulator and runner per "
        "trial, trials one after another. Method: the docstring of `bench/trigger.py`.",
        "",
        "| poll | trials | reaction p50 ms | reaction p99 ms | max ms | goal (poll + 5 ms) "
        "| detect p50 / p99 ms | act p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in series:
        r = [t.reaction_ms for t in s.trials]
        d = [t.detect_ms for t in s.trials]
        a = [t.act_ms for t in s.trials]
        goal = s.interval * 1000 + GOAL_SLACK_MS
        met = "met" if r and pct(r, 99) <= goal and not s.misses else "**missed**"
        lines.append(
            f"| {fmt_s(s.interval)} | {len(s.trials)}"
            + (f" (+{len(s.misses)} failed)" if s.misses else "")
            + f" | {pct(r, 50):.1f} | {pct(r, 99):.1f} | {max(r, default=float('nan')):.1f}"
            f" | {goal:.0f} ms: {met} | {pct(d, 50):.1f} / {pct(d, 99):.1f}"
            f" | {pct(a, 50):.2f} / {pct(a, 99):.2f} |"
        )
    lines += [
        "",
        f"Polling cost, one run per interval with the trigger waiting {args.cost_seconds:g} s "
        "(its order placed, no crossing); requests per second as the simulator received them:",
        "",
        "| poll | ka10001/s per watched symbol | poll period mean / max ms | other reads/s "
        "| all requests/s | requests between the poll that saw the crossing and the cancel |",
        "|---|---|---|---|---|---|",
    ]
    for s in series:
        c = s.cost
        seqs = Counter(" ".join(t.between) for t in s.trials)
        common = ", ".join(f"`{k or '(none)'}` ×{v}" for k, v in seqs.most_common(3))
        if c is None:
            lines.append(f"| {fmt_s(s.interval)} | – | – | – | – | {common} |")
            continue
        rates = ", ".join(
            f"{k} {v / c.seconds:.2f}" for k, v in sorted(c.requests.items()) if k != "ka10001"
        )
        lines.append(
            f"| {fmt_s(s.interval)} | {c.requests['ka10001'] / c.seconds:.3f}"
            f" | {statistics.fmean(c.gaps) * 1000:.1f} / {max(c.gaps) * 1000:.1f}"
            f" | {rates or 'none'} | {sum(c.requests.values()) / c.seconds:.2f} | {common} |"
        )
    for s in series:
        for why, count in Counter(s.misses).items():
            lines.append(f"\nFailed trials at {fmt_s(s.interval)}: {count} × {why}.")
    lines += [
        "",
        "- reaction: crossing (the `set_price` instant, from `sim.price_history()`) → the "
        "simulator's receipt of the trigger's first order request (kt10003, the cancel of "
        "`market`); detect: crossing → the first ka10001 after it; act: that ka10001 → the "
        "kt10003. Both ends on the simulator's clock.",
        "",
    ]
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=80, help="trials per poll interval")
    ap.add_argument("--intervals", default="1,0.2", help="poll intervals in seconds")
    ap.add_argument("--cost-seconds", type=float, default=10.0, help="polling-cost run")
    ap.add_argument("--loopback", action="store_true", help="sim.serve() on 127.0.0.1")
    ap.add_argument("--seed", type=int, default=0, help="seeds the crossing instants")
    ap.add_argument("--no-write", action="store_true", help="print only")
    summary.add_option(ap)
    args = ap.parse_args()
    args.argv = summary.own_argv(sys.argv[1:])
    intervals = [float(x) for x in args.intervals.split(",") if x.strip()]
    if args.trials < 1 or not intervals or min(intervals) <= 0:
        raise SystemExit("--trials must be >= 1 and every interval > 0")
    rng = random.Random(args.seed)
    load_before = os.getloadavg()[0]
    series = []
    for interval in intervals:
        s = Series(interval)
        for i in range(args.trials):
            with tempfile.TemporaryDirectory() as name:
                out = one_trial(interval, rng, Path(name), args.loopback)
            if isinstance(out, Trial):
                s.trials.append(out)
            else:
                s.misses.append(str(out))
            if (i + 1) % 10 == 0:
                print(f"  {fmt_s(interval)}: {i + 1}/{args.trials}", file=sys.stderr)
        if args.cost_seconds > 0:
            with tempfile.TemporaryDirectory() as name:
                out = one_trial(interval, rng, Path(name), args.loopback, args.cost_seconds)
            if isinstance(out, Cost):
                s.cost = out
            else:
                s.misses.append(f"polling-cost run: {out}")
        series.append(s)
    text = report(series, args, (load_before, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        summary.write_doc_section(SECTION, text)
        print(f"written to {DOC.relative_to(ROOT)}")
    rows = []
    for s in series:
        r, goal = [t.reaction_ms for t in s.trials], s.interval * 1000 + GOAL_SLACK_MS
        failed = f", {len(s.misses)} failed" if s.misses else ""
        rows.append(
            summary.figure(
                f"trigger: reaction p99, poll {fmt_s(s.interval)} ({len(s.trials)} trials{failed})",
                f"≤ {goal:.0f} ms (poll + {GOAL_SLACK_MS:g} ms)",
                f"{pct(r, 99):.1f} ms",
                bool(r) and pct(r, 99) <= goal and not s.misses,
            )
        )
    summary.write(args.summary, rows)


if __name__ == "__main__":
    main()
