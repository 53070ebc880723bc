"""bench/firing.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

from tests.support.bench import output


def test_firing_bench_prints_lateness_and_peak_rss() -> None:
    args = ["--orders", "6", "--modifies", "1", "--every", "1", "--groups", "1"]
    args += ["--group-size", "2", "--rss-steps", "50", "--no-write"]
    out = output("firing", *args)
    assert "| **order request received (all jobs)** | 12 |" in out
    for name in ("place (kt10000)", "modify (kt10002)", "sharing an instant", "fire: APScheduler"):
        assert name in out
    assert "Peak RSS with a 51-job plan" in out
    assert "written to" not in out


def test_issue17_firing_bench_with_a_hanging_notification_receiver() -> None:
    args = ["--orders", "4", "--modifies", "1", "--every", "1", "--groups", "1"]
    args += ["--group-size", "2", "--rss-steps", "50", "--no-write", "--notify-hanging"]
    out = output("firing", *args)
    assert "| **order request received (all jobs)** | 8 |" in out
