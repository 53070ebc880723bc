"""Fill to output line: the simulator's fill -> the runner's `fill` event (its printed line),
with the live feed and polling, under the mock and live rate limits.

    python bench/fills.py [--orders 10] [--limits mock,live] [--seeds 3] [--poll 1]
                          [--no-write] [--summary FILE]

Issue 14, acceptance 3. Goals: p99 < 50 ms with the feed, < poll + 50 ms polling.

One run per (mode, limits, seed): a fresh simulator on 127.0.0.1 (REST and WebSocket on
one port, RealClock) and the real runner wired as `planrunner run` wires it
(bench/feedrig.py). The plan places `--orders` resting sells, one symbol each (1 @
70,500, market 70,000), and cancels them ten minutes later (so the run waits for them:
it ends on its own once every order is filled, nothing more can happen). Once all are
placed, the symbols rise to 70,500 one at a time in the seed's random order, each a
random 0.2-1.2 s after the previous fill was printed: the simulator fills the sell at
that instant (`set_price`; the fill's time is that `price_history` entry). The end is
the wall-clock instant the runner emitted the order's `fill` event: the moment its line
is printed (the printer itself, a write to a terminal, is not counted). Both on the
machine's clock (the simulator's RealClock is the wall clock).

Prints the figures and rewrites the "Fills" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedrig
import summary

SECTION = "Fills"
ASK = 70_500
SLACK_MS = 50.0


@dataclass
class Series:
    feed: bool
    limit: str
    delays: list[float] = field(default_factory=list)  # ms
    misses: list[str] = field(default_factory=list)


def build_plan(codes: list[str], start: dt.datetime, poll: float) -> Any:
    from planrunner.model import Cancel, OrderSpec, Place, Policy
    from tests.support.rehearsal import compiled, job_at

    orders, jobs = [], []
    later = start + dt.timedelta(minutes=10)
    for i, code in enumerate(codes):
        spec = OrderSpec(id=f"o{code}", symbol=code, side="sell", qty=1, price=ASK)
        orders.append(spec)
        at = start + dt.timedelta(seconds=0.05 + 0.01 * i)
        jobs.append(job_at(f"{spec.id}.place", at, Place(spec=spec), "+0s"))
        jobs.append(job_at(f"{spec.id}.cancel", later, Cancel(order=spec.id), "+10m"))
    poll_every = dt.timedelta(seconds=poll)
    policy = Policy(price_poll=poll_every, misfire_grace=dt.timedelta(minutes=5))
    return compiled("bench-fills", start, orders, jobs, policy=policy)


def one_run(s: Series, seed: int, n: int, poll: float, tmp: Path) -> None:
    rng = random.Random(seed * 7919 + n)
    codes = feedrig.symbols(n)
    rig = feedrig.start(
        lambda now: build_plan(codes, now, poll), feed=s.feed, limit=s.limit, tmp=tmp
    )
    try:
        sim = rig.sim
        limit = time.monotonic() + 30 + 2 * n

        def placed() -> bool:
            return all(rig.journal.state.lineage.get(f"o{c}") for c in codes)

        if not feedrig.until(placed, limit, 0.01):
            s.misses.append("the orders were not all placed")
            return
        if s.feed and not feedrig.until(lambda: rig.push.up, limit):
            s.misses.append("the feed never came up")
            return
        for code in rng.sample(codes, n):
            time.sleep(rng.uniform(0.2, 1.2))
            sim.set_price(code, ASK)
            seen = feedrig.until(
                lambda c=code: printed_at(rig, c) is not None, time.monotonic() + 10 + 2 * poll
            )
            filled = next((t for t, p in sim.price_history(code) if p >= ASK), None)
            at = printed_at(rig, code)
            if not seen or filled is None or at is None:
                s.misses.append(f"{code}: no fill line in time")
                continue
            s.delays.append((at - filled.timestamp()) * 1000)
    finally:
        rig.close()


def printed_at(rig: Any, code: str) -> float | None:
    return next(
        (t for t, e in list(rig.printed) if e.kind == "fill" and e.order == f"o{code}"), None
    )


def report(series: list[Series], args: argparse.Namespace, load: tuple[float, float]) -> str:
    first = (
        feedrig.heading("fills", args, load)
        + f" {args.seeds} run(s) (seeds) per row, {args.orders} fill(s) per run; price_poll "
        f"{args.poll:g} s. Method: the docstring of `bench/fills.py`."
    )
    columns = ["source", "rate limits", "fills", "p50 ms", "p99 ms", "max ms", "goal"]
    rows, notes = [], []
    for s in series:
        d = s.delays
        goal = SLACK_MS + (0 if s.feed else args.poll * 1000)
        met = d and feedrig.pct(d, 99) < goal and not s.misses
        src, told = feedrig.source(s.feed), f"< {goal:.0f} ms: {'met' if met else '**missed**'}"
        rows.append(feedrig.row(src, s.limit, feedrig.figures(d, s.misses), told))
        notes += feedrig.missed(f"{src}, {s.limit}", s.misses)
    return feedrig.table(first, columns, rows, notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10, help="orders (fills) per run")
    ap.add_argument("--poll", type=float, default=1.0, help="price_poll, seconds")
    args, shapes = feedrig.parse(ap)
    if any(x not in feedrig.LIMITS for x in shapes) or min(args.seeds, args.orders) < 1:
        raise SystemExit("--limits from none,mock,live; --seeds and --orders >= 1")
    load_before = os.getloadavg()[0]
    series: list[Series] = []
    for feed in (True, False):
        for limit in shapes:
            s = Series(feed=feed, limit=limit)
            for seed in range(args.seeds):
                with tempfile.TemporaryDirectory() as name:
                    one_run(s, seed, args.orders, args.poll, Path(name))
            print(f"  {'feed' if feed else 'polling'} {limit}: {len(s.delays)}", file=sys.stderr)
            series.append(s)
    text = report(series, args, (load_before, os.getloadavg()[0]))
    rows = []
    for s in series:
        goal = SLACK_MS + (0 if s.feed else args.poll * 1000)
        p99 = feedrig.pct(s.delays, 99)
        rows.append(
            summary.figure(
                f"fills ({'feed' if s.feed else 'polling'}, {s.limit} limits): line p99",
                f"< {goal:.0f} ms",
                f"{p99:.1f} ms",
                bool(s.delays) and p99 < goal and not s.misses,
            )
        )
    feedrig.publish(SECTION, text, args, rows)


if __name__ == "__main__":
    main()
