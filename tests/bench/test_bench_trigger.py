"""bench/trigger.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

from tests.support.bench import output


def test_trigger_bench_prints_reaction_and_polling_cost() -> None:
    out = output("trigger", "--trials", "2", "--intervals", "0.05", "--no-write")
    assert "| 50 ms | 2 | " in out  # both trials measured, none failed
    for name in ("reaction p99 ms", "ka10001/s per watched symbol", "kt10003", "nproc"):
        assert name in out
    assert "written to" not in out
