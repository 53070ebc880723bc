"""bench/budget.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "budget.py"


def test_budget_bench_prints_the_waits_of_orders_with_and_without_the_priority_line() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--orders", "2", "--readers", "3", "--no-write"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    for row in ("| mock | orders first | 2 |", "| live | one priority (FIFO) | 2 |"):
        assert row in out
    assert "nproc" in out and "written to" not in out
