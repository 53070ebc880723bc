"""bench/trigger.py runs end to end in a tiny configuration and prints every figure.

No timing is asserted: the figures depend on the machine (docs/performance.md has them).
"""

from __future__ import annotations

from tests.support.bench import output


def test_trigger_bench_prints_reaction_with_the_feed_and_polling() -> None:
    args = ["--sizes", "2", "--poll-sizes", "1", "--limits", "none", "--seeds", "1"]
    out = output("trigger", *args, "--crossings", "2", "--no-write", timeout=300)
    assert "| feed | none | 2 | 2 | " in out  # both crossings measured, none missed
    assert "| polling | none | 1 | 2 | " in out  # two runs of one symbol
    # The feed was up the whole time: no price was polled.
    [feed_row] = [x for x in out.splitlines() if x.startswith("| feed |")]
    assert feed_row.endswith("| 0 |"), feed_row
    for name in ("p99 ms", "ka10001 while the feed was up", "nproc", "load average"):
        assert name in out
    assert "written to" not in out
