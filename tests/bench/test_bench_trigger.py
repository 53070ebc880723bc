"""bench/trigger.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "trigger.py"


def test_trigger_bench_prints_reaction_and_polling_cost() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--trials", "2", "--intervals", "0.05", "--no-write"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "| 50 ms | 2 | " in out  # both trials measured, none failed
    for name in ("reaction p99 ms", "ka10001/s per watched symbol", "kt10003", "nproc"):
        assert name in out
    assert "written to" not in out
