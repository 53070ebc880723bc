"""How `validate` and `show` scale with a plan's size: plans of 10,000 to 50,000 steps.

    python bench/scaling.py [--sizes 10000,20000,30000,40000,50000] [--repeat 3] [--no-gc-fix]

Each plan has 5 orders and, per order, one `modify` a second (+1 tick, then -1 tick)
from 09:00:10: N steps are N modify jobs on the day's timeline. Each size is written once,
then `planrunner validate FILE` and `planrunner show FILE --date 2026-11-26` run as new
processes (median of --repeat runs each), timed in CPU seconds (user + system: on a
shared machine wall time measures the neighbours). Prints a table: the seconds, the
seconds per 1,000 steps, and the ratio to the smallest size (linear: the size ratio).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ORDERS = 5
DAY = "2026-11-26"


def plan_text(steps: int) -> str:
    lines = ["version: 1", f"name: scale-{steps}", "orders:"]
    for k in range(ORDERS):
        lines.append(
            f'  o{k}: {{symbol: "005930", side: buy, qty: 10, price: 70000, at: "09:00:05"}}'
        )
    lines.append("steps:")
    for i in range(steps):
        k, second = i % ORDERS, 10 + i // ORDERS
        h, m, s = 9 + second // 3600, second // 60 % 60, second % 60
        by = "+1 tick" if (i // ORDERS) % 2 == 0 else "-1 tick"
        lines.append(f'  - {{at: "{h:02d}:{m:02d}:{s:02d}", modify: {{order: o{k}, price: {by}}}}}')
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """The CPU seconds (user + system) of one run of `cmd`: on a shared machine the wall
    clock measures the other processes more than this one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,20000,30000,40000,50000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--no-gc-fix",
        action="store_true",
        help="run with PLANRUNNER_GC=default: the collector as Python sets it (to compare)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.no_gc_fix:
        env["PLANRUNNER_GC"] = "default"
    exe = [sys.executable, "-m", "planrunner"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            f = Path(tmp) / f"scale-{n}.yaml"
            f.write_text(plan_text(n), encoding="utf-8")
            if n == sizes[0]:
                timed([*exe, "validate", str(f)], env)  # warm the .pyc caches
            v = statistics.median(
                timed([*exe, "validate", str(f)], env) for _ in range(args.repeat)
            )
            s = statistics.median(
                timed([*exe, "show", str(f), "--date", DAY], env) for _ in range(args.repeat)
            )
            rows.append((n, f.stat().st_size, v, s))
    base_n, _, base_v, base_s = rows[0]
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end; median of {args.repeat}")
    print("| steps | file | validate (CPU) | per 1,000 | × | show (CPU) | per 1,000 | × |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, size, v, s in rows:
        print(
            f"| {n:,} | {size / 1e6:.1f} MB | {v:.2f} s | {v / n * 1000:.3f} s | "
            f"{v / base_v:.1f} | {s:.2f} s | {s / n * 1000:.3f} s | {s / base_s:.1f} |"
        )
    print(f"(linear: × = steps / {base_n:,})")


if __name__ == "__main__":
    main()
