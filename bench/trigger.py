"""Trigger reaction: the simulator's price change -> the simulator's receipt of the trigger's
first request, at 1, 10, 50 and 200 watched symbols, with the live feed and polling, under
the mock and live rate limits.

    python bench/trigger.py [--sizes 1,10,50,200] [--poll-sizes 1,10,50] [--limits mock,live]
                            [--seeds 3] [--crossings 10] [--no-write] [--summary FILE]

Issue 14, acceptance 2. Goals with the feed: p99 < 20 ms at 50 symbols, < 50 ms at 200;
no ka10001 while the feed is up. Polling figures are printed beside them.

One run per (mode, limits, symbols, seed): a fresh simulator served on 127.0.0.1 (REST
and WebSocket on one port, RealClock), the real client with the limits' shape, and the
real runner wired as `planrunner run` wires it (bench/feedrig.py). The plan watches N
symbols, one trigger each: `price SYM below 69,000 -> place a buy 1 @ 60,000` (a resting
order: the place is the trigger's first and only request; no read precedes it). Once
every symbol's price is known to the runner (pushed, or polled once), a noise thread
moves a random watched symbol by a tick every 20 ms (pushes the triggers evaluate, never
a crossing), and `--crossings` symbols, in the seed's random order, drop to 68,900 one
after another and stay there (the simulator does not walk, bench/feedrig.py: a crossing
one tick below the level that walked back above it before a slow poll read it was
counted as a miss, or as a 20 s reaction when it walked down again), each a random
0-0.3 s more than the limits let place requests go (1.05 s mock, 0.35 s live; the
limiter's wait is not the trigger's), or for polling up to one poll sweep, after the
previous trigger's request. A row with fewer symbols than crossings gets more runs (up
to 10 per seed) so that each row has about seeds x crossings reactions. Both ends on
the simulator's clock: the crossing is the first `price_history` entry below 69,000 (the
`set_price` instant); the reaction ends at the receipt of the kt10000 for that symbol in
the simulator's request log. ka10001 counted from the moment the feed was up and every
symbol priced to the end of the run (the goal: none).

Prints the figures and rewrites the "Trigger" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedrig
import summary

SECTION = "Trigger"
LEVEL, CRASH, BID = 69_000, 68_900, 60_000
TICK = 100
GOALS_MS = {50: 20.0, 200: 50.0}  # p99 with the feed
POLL = 1.0  # policy.price_poll, seconds


@dataclass
class Series:
    feed: bool
    limit: str
    size: int
    reactions: list[float] = field(default_factory=list)  # ms
    ka10001_up: int = 0  # ka10001 received while the feed was up
    misses: list[str] = field(default_factory=list)
    seeds: int = 0


def build_plan(codes: list[str], start: dt.datetime) -> Any:
    from planrunner.model import OrderSpec, Place, Policy, PriceCond, Trigger
    from tests.support.rehearsal import compiled

    orders, triggers = [], []
    for code in codes:
        spec = OrderSpec(id=f"o{code}", symbol=code, side="buy", qty=1, price=BID)
        orders.append(spec)
        triggers.append(
            Trigger(
                id=f"t{code}",
                when=PriceCond(symbol=code, op="below", value=LEVEL),
                action=Place(spec=spec),
                between=(dt.time(0, 0), dt.time(23, 59, 59)),  # any hour
            )
        )
    policy = Policy(price_poll=dt.timedelta(seconds=POLL))
    return compiled("bench-trigger", start, orders, triggers=triggers, policy=policy)


def one_run(s: Series, seed: int, crossings: int, tmp: Path) -> None:
    rng = random.Random(seed * 1_000_003 + s.size)
    codes = feedrig.symbols(s.size)
    midnight_wait()
    rig = feedrig.start(lambda now: build_plan(codes, now), feed=s.feed, limit=s.limit, tmp=tmp)
    noise_stop = threading.Event()
    try:
        sim = rig.sim
        for code in codes:
            sim.set_price(code, feedrig.MARKET)
        # A sweep of ka10001 under the limits: how long polling takes to see every symbol.
        rate = rig.client.limiter.limits.for_api("ka10001")
        sweep = s.size / rate.per_second if rate else 0.05 * s.size
        limit = time.monotonic() + 30 + 2 * sweep
        if s.feed:
            ready = feedrig.until(lambda: rig.push.up, limit)
            step = 1
            while ready and not priced(rig.push, codes):  # Kiwoom pushes on change only
                step = 3 - step  # 1, 2, 1, ...: each round is a change
                for code in codes:
                    sim.set_price(code, feedrig.MARKET + step * TICK)
                ready = feedrig.until(lambda: priced(rig.push, codes), time.monotonic() + 0.5)
                ready = ready or time.monotonic() < limit
        else:
            ready = feedrig.until(lambda: count(sim, 0, "ka10001") >= s.size, limit)
        if not ready:
            s.misses.append("not ready: the feed never came up or prices never arrived")
            return
        if s.feed:
            time.sleep(1.1)  # a ka10001 the first tick sent before the feed was up lands
        mark = len(sim.log_snapshot())
        crossed: set[str] = set()
        down_before = feed_downs(rig)
        noise = threading.Thread(
            target=jiggle, args=(sim, codes, crossed, rng.random(), noise_stop), daemon=True
        )
        noise.start()
        # Crossings apart by more than the place request's rate allows (the limiter's wait
        # is not the trigger's reaction), and for polling a random phase of its sweep.
        places = [r for r in (rig.client.limiter.limits.for_api("kt10000"),) if r]
        spacing = 1.05 / min(r.per_second for r in places) if places else 0.3
        order = rng.sample(codes, min(crossings, len(codes)))
        for code in order:
            gap = rng.uniform(spacing, spacing + 0.3) if s.feed else rng.uniform(0, POLL + sweep)
            time.sleep(gap)
            with sim.lock:
                crossed.add(code)
                sim.set_price(code, CRASH)
            done = feedrig.until(
                lambda c=code: placed(sim, mark, c), time.monotonic() + 10 + 2 * sweep + POLL
            )
            if not done:
                s.misses.append(f"{code}: no place request in time")
        noise_stop.set()
        noise.join(5)
        log = sim.log_snapshot()
        for code in order:
            crossing = next((t for t, p in sim.price_history(code) if p < LEVEL), None)
            req = next((e for e in log[mark:] if e.api_id == "kt10000" and sym(e) == code), None)
            if crossing is not None and req is not None:
                s.reactions.append((req.at - crossing).total_seconds() * 1000)
        if s.feed:
            if feed_downs(rig) != down_before:
                s.misses.append("the feed went down during the run")
            s.ka10001_up += sum(1 for e in log[mark:] if e.api_id == "ka10001")
    finally:
        noise_stop.set()
        rig.close()


def midnight_wait() -> None:
    """The triggers' window is one calendar day: never straddle midnight."""
    now = dt.datetime.now()
    left = (dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time()) - now).seconds
    if left < 300:
        time.sleep(left + 1)


def priced(push: Any, codes: list[str]) -> bool:
    with push._cond:
        return all(c in push._latest for c in codes)


def count(sim: Any, mark: int, api_id: str) -> int:
    return sum(1 for e in sim.log_snapshot()[mark:] if e.api_id == api_id)


def sym(entry: Any) -> str:
    return str(entry.body.get("stk_cd", ""))


def placed(sim: Any, mark: int, code: str) -> bool:
    return any(e.api_id == "kt10000" and sym(e) == code for e in sim.log_snapshot()[mark:])


def feed_downs(rig: Any) -> int:
    return sum(1 for _, e in rig.printed if str(e.message).startswith("live feed down"))


def jiggle(
    sim: Any, codes: list[str], crossed: set[str], salt: float, stop: threading.Event
) -> None:
    """Every 20 ms a random watched symbol moves a tick, above the level: pushes that the
    triggers evaluate and that never cross (a crossed symbol is left alone)."""
    rng = random.Random(salt)
    while not stop.wait(0.02):
        with sim.lock:  # a crossing is decided under the same lock
            code = rng.choice(codes)
            if code not in crossed:
                sim.set_price(code, feedrig.MARKET + TICK * rng.choice((0, 1, 2)))


def report(series: list[Series], args: argparse.Namespace, load: tuple[float, float]) -> str:
    first = (
        feedrig.heading("trigger", args, load)
        + f" Simulator on 127.0.0.1 (REST and WebSocket), RealClock; {args.seeds} seed(s) per "
        f"row, {args.crossings} crossing(s) per run; price_poll {POLL:g} s. Method: the "
        "docstring of `bench/trigger.py`."
    )
    columns = ["source", "rate limits", "symbols", "reactions", "p50 ms", "p99 ms", "max ms"]
    columns += ["goal", "ka10001 while the feed was up"]
    rows, notes = [], []
    for s in series:
        r = s.reactions
        goal = GOALS_MS.get(s.size) if s.feed else None
        if goal is None:
            told = "–"
        else:
            met = r and feedrig.pct(r, 99) < goal and not s.misses and not s.ka10001_up
            told = f"< {goal:.0f} ms: " + ("met" if met else "**missed**")
        src, ka10001 = feedrig.source(s.feed), s.ka10001_up if s.feed else "(polling)"
        rows.append(feedrig.row(src, s.limit, s.size, feedrig.figures(r, s.misses), told, ka10001))
        notes += feedrig.missed(f"{src}, {s.limit}, {s.size}", s.misses)
    return feedrig.table(first, columns, rows, notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,50,200", help="watched symbols, with the feed")
    ap.add_argument("--poll-sizes", default="1,10,50", help="watched symbols, polling")
    ap.add_argument("--crossings", type=int, default=10, help="crossings per run")
    args, shapes = feedrig.parse(ap)

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    if any(x not in feedrig.LIMITS for x in shapes) or args.seeds < 1 or args.crossings < 1:
        raise SystemExit("--limits from none,mock,live; --seeds and --crossings >= 1")
    load_before = os.getloadavg()[0]
    series: list[Series] = []
    for feed, sizes in ((True, ints(args.sizes)), (False, ints(args.poll_sizes))):
        for limit in shapes:
            for size in sizes:
                s = Series(feed=feed, limit=limit, size=size)
                runs = args.seeds * min(10, -(-args.crossings // size))  # small N: more runs
                for seed in range(runs):
                    with tempfile.TemporaryDirectory() as name:
                        one_run(s, seed, args.crossings, Path(name))
                    s.seeds += 1
                src = "feed" if feed else "polling"
                print(f"  {src} {limit} {size}: {len(s.reactions)} reactions", file=sys.stderr)
                series.append(s)
    text = report(series, args, (load_before, os.getloadavg()[0]))
    rows = []
    for s in series:
        goal = GOALS_MS.get(s.size)
        if not s.feed or goal is None:
            continue
        p99 = feedrig.pct(s.reactions, 99)
        rows.append(
            summary.figure(
                f"trigger (feed, {s.limit} limits): reaction p99 at {s.size} symbols",
                f"< {goal:.0f} ms, no ka10001",
                f"{p99:.1f} ms, {s.ka10001_up} ka10001",
                bool(s.reactions) and p99 < goal and not s.misses and not s.ka10001_up,
            )
        )
    feedrig.publish(SECTION, text, args, rows)


if __name__ == "__main__":
    main()
