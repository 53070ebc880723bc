"""bench/chaos.py, short: 20 seeded runs, each runner SIGKILLed at random moments and
restarted. Fails on any duplicate order, lost action, journal error or other ending.

No timing is asserted; the full run (200) and its figures are in docs/performance.md.
"""

from __future__ import annotations

from tests.support.bench import run_json


def test_chaos_short_nothing_twice_nothing_lost() -> None:
    args = ["--runs", "20", "--workers", "4", "--seed", "7"]
    done = run_json("chaos", *args)
    totals, out = done.totals, done.out
    assert totals["runs"] == 20, out
    assert totals["kills"] > 0, out
    assert totals["duplicates"] == 0, out
    assert totals["lost"] == 0, out
    assert totals["unexpected"] == 0, out
    assert totals["journal_errors"] == 0, out
    assert totals["other_endings"] == 0, out
    assert done.returncode == 0, out
