"""bench/faults.py, short: 50 seeded scenarios with injected broker and network faults.
Every run must end with the plan's intent at the broker (exit 0) or exit 2 naming every
job that needs attention; no action committed twice, no journal error.

No timing is asserted; the full run (500) and its figures are in docs/performance.md.
"""

from __future__ import annotations

import pytest

from tests.support.bench import run_json


def test_faults_short_every_run_meets_intent_or_names_its_jobs() -> None:
    # Latency past the client's 10 s timeout makes a run last 15-30 s: the full bench has it.
    args = ["--runs", "50", "--workers", "6", "--seed", "7", "--no-timeouts"]
    # the broker and network faults (the runner's own faults: the test below)
    args += ["--kinds", "rate_limit,token_expiry,5xx,1999,drop,latency,refused,hand"]
    done = run_json("faults", *args)
    totals, out = done.totals, done.out
    assert totals["scenarios"] == 50, out
    assert totals["faults_injected"] > 0, out
    assert totals["intent"] + totals["attention"] == 50, out
    assert totals["neither"] == 0, out
    assert totals["duplicates"] == 0, out
    assert totals["journal_errors"] == 0, out
    assert done.returncode == 0, out


@pytest.mark.slow
@pytest.mark.real_clock  # closed-output runners break libfaketime's shared clock state
def test_issue11_faults_short_journal_write_failures_and_closed_output() -> None:
    """8 scenarios with the runner's journal cut short by RLIMIT_FSIZE or its output
    closed (`| head -1`, broken pipes, `>&- 2>&-`), some beside a hand-placed twin:
    nothing twice, nothing claimed that is not ours, no request without a complete
    intent before it, and every run as planned or exit 2 naming what needs attention (a
    journal write failure stops sending and exits 2)."""
    args = ["--runs", "8", "--workers", "2", "--seed", "7"]
    args += ["--kinds", "journal_full,output,hand"]
    done = run_json("faults", *args)
    totals, out = done.totals, done.out
    assert totals["scenarios"] == 8, out
    kinds = totals["armed_by_kind"]
    assert kinds.get("journal_full") and {"head", "broken", "closed"} & set(kinds), out
    assert totals["intent"] + totals["attention"] == 8, out
    assert totals["neither"] == 0, out
    assert totals["duplicates"] == 0 and totals["claimed_not_ours"] == 0, out
    assert totals["sent_without_intent"] == 0, out
    assert totals["journal_errors"] == 0, out
    assert done.returncode == 0, out
