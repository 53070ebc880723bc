"""Cold `planrunner validate` against check-jsonschema on the same files.

    python bench/validate.py [--summary FILE]

Prints: one plan, cold (median of 10 process runs), and one call over 1,000 generated
plans (median of 3 such calls); each next to
`check-jsonschema --schemafile schemas/plan.schema.json` on the same files. Goals
(issue 3): one plan < 0.3 s, 1,000 plans < 2 s, not slower than check-jsonschema even
though validate also runs the cross-field rules and compile.

"Cold" is a new process each time with the .pyc caches in place, as after any install:
one untimed run of each tool first writes them. PYTHONDONTWRITEBYTECODE is dropped from
the tools' environment, else every run would compile planrunner from source again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import summary

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCHEMA = ROOT / "schemas" / "plan.schema.json"
RUNS = 10
MANY_RUNS = 3
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

TEMPLATE = """\
version: 1
name: gen-{i}
orders:
  entry:
    symbol: "{symbol}"
    side: buy
    qty: {qty}
    price: {price}
    at: "09:00:{sec:02d}"
steps:
  - at: "09:30"
    modify: {{order: entry, price: +1 tick}}
  - ladder: {{order: entry, every: 5m, by: +1 tick, from: "09:35", until: "10:00", limit: {limit}}}
  - at: "15:10"
    cancel: {{order: entry}}
triggers:
  - id: stop
    when: {{price: {{symbol: "{symbol}", below: {stop}}}}}
    market: {{order: entry}}
"""


def generate(folder: Path, n: int) -> list[str]:
    files = []
    for i in range(n):
        price = 60000 + (i % 50) * 100
        text = TEMPLATE.format(
            i=i,
            symbol=f"{i % 1000:06d}",
            qty=1 + i % 20,
            price=price,
            sec=i % 60,
            limit=price + 1000,
            stop=price - 1000,
        )
        f = folder / f"plan-{i:04d}.yaml"
        f.write_text(text, encoding="utf-8")
        files.append(str(f))
    return files


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t


def median(cmd: list[str], runs: int = RUNS) -> float:
    return statistics.median(timed(cmd) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    summary.add_option(ap)
    args = ap.parse_args()
    ours = [str(BIN / "planrunner"), "validate"]
    theirs = [
        str(shutil.which("check-jsonschema", path=str(BIN)) or "check-jsonschema"),
        "--schemafile",
        str(SCHEMA),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "one").mkdir()
        (Path(tmp) / "many").mkdir()
        one = generate(Path(tmp) / "one", 1)
        many = generate(Path(tmp) / "many", 1000)
        timed(ours + one), timed(theirs + one)  # write the .pyc caches, not the data
        rows = [
            ("1 plan, cold (median of 10)", median(ours + one), median(theirs + one)),
            (
                "1,000 plans, one call (median of 3)",
                median(ours + many, MANY_RUNS),
                median(theirs + many, MANY_RUNS),
            ),
        ]
    print(f"{'':36} {'planrunner validate':>20} {'check-jsonschema':>17}")
    for label, a, b in rows:
        print(f"{label:36} {a:>19.3f}s {b:>16.3f}s")
    (_, one_a, one_b), (_, many_a, many_b) = rows
    summary.write(
        args.summary,
        [
            summary.figure(
                "validate: 1 plan, cold (median of 10)",
                "< 0.3 s",
                f"{one_a:.3f} s (check-jsonschema {one_b:.3f} s)",
                one_a < 0.3,
            ),
            summary.figure(
                "validate: 1,000 plans, one call (median of 3)",
                "< 2 s",
                f"{many_a:.3f} s (check-jsonschema {many_b:.3f} s)",
                many_a < 2,
            ),
            summary.figure(
                "validate vs check-jsonschema",
                "not slower",
                f"{one_b / one_a:.1f}× faster cold, {many_b / many_a:.1f}× on 1,000 plans",
                one_a <= one_b and many_a <= many_b,
            ),
        ],
    )


if __name__ == "__main__":
    main()
