"""bench/fills.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fills.py"


def test_fills_bench_prints_fill_to_line_with_the_feed_and_polling() -> None:
    args = ["--orders", "2", "--limits", "none", "--seeds", "1", "--poll", "0.2"]
    out = subprocess.run(
        [sys.executable, str(BENCH), *args, "--no-write"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "| feed | none | 2 | " in out  # both fills seen, none missed
    assert "| polling | none | 2 | " in out
    for name in ("p99 ms", "< 50 ms", "< 250 ms", "nproc", "load average"):
        assert name in out
    assert "written to" not in out
