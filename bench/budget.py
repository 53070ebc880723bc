"""How long an order waits for the client's rate budget while reads keep it busy.

    python bench/budget.py [--orders 40] [--readers 6] [--seed 0] [--no-write]

The real RateLimiter on the real clock, in this process, with the mock and the live
limits. `--readers` threads read without pause (trigger polls and the watch on open
orders and fills: ka10001, ka10075, ka10076 in turn), enough to keep the overall bucket
empty; meanwhile orders (kt10000) arrive one at a time, a random 0.3-1.0 s apart
(seeded). Each order's figure is the time from asking the limiter to being let through.
Run twice: with the priority line (orders first), and with every request at one
priority (first come, first served: what a limiter without priorities does).

Prints the figures and rewrites the "Rate budget" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planrunner.kiwoom.ratelimit import POLL, RateLimiter, RateLimits  # noqa: E402

READS = ("ka10001", "ka10075", "ka10076")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def trial(env: str, *, fair: bool, orders: int, readers: int, seed: int) -> dict[str, float]:
    rl = RateLimiter(RateLimits.for_env(env))
    stop = threading.Event()
    reads = [0]

    def reader(i: int) -> None:
        n = i
        while not stop.is_set():
            rl.acquire(READS[n % len(READS)])
            reads[0] += 1
            n += 1

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
    for th in threads:
        th.start()
    time.sleep(1.5)  # the buckets are empty and the line is full
    rng = random.Random(seed)
    waits = []
    began = time.monotonic()
    for _ in range(orders):
        time.sleep(rng.uniform(0.3, 1.0))
        t0 = time.monotonic()
        rl.acquire("kt10000", priority=POLL if fair else None)
        waits.append(time.monotonic() - t0)
    elapsed = time.monotonic() - began
    stop.set()
    return {
        "p50": _pct(waits, 0.5) * 1000,
        "p99": _pct(waits, 0.99) * 1000,
        "max": max(waits) * 1000,
        "reads/s": reads[0] / (elapsed + 1.5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=40)
    ap.add_argument("--readers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for env in ("mock", "live"):
        for fair in (False, True):
            f = trial(env, fair=fair, orders=args.orders, readers=args.readers, seed=args.seed)
            line = "one priority (FIFO)" if fair else "orders first"
            rows.append(
                f"| {env} | {line} | {args.orders} | {f['p50']:.0f} | {f['p99']:.0f} | "
                f"{f['max']:.0f} | {f['reads/s']:.1f} |"
            )
            print(rows[-1], flush=True)
    head = [
        "## Rate budget",
        "",
        f"Measured with `python bench/budget.py --orders {args.orders} --readers "
        f"{args.readers} --seed {args.seed}`: Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (nproc), load average {load:.1f} before the run. The real "
        f"RateLimiter on the real clock; {args.readers} threads read without pause "
        "(ka10001, ka10075, ka10076 in turn) while orders (kt10000) arrive 0.3-1.0 s apart; "
        "an order's wait is from asking the limiter to being let through (ms).",
        "",
        "| limits | line | orders | wait p50 | p99 | max | reads/s let through |",
        "|---|---|---|---|---|---|---|",
    ]
    table = "\n".join([*head, *rows]) + "\n"
    print(table)
    if args.no_write:
        return
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text(encoding="utf-8")
    start = text.find("## Rate budget")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + table
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + table + ("" if end < 0 else text[end:])
    doc.write_text(text, encoding="utf-8")
    print(f"written to {doc}")


if __name__ == "__main__":
    main()
