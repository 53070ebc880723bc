"""bench/faults.py, short: 50 seeded scenarios with injected broker and network faults.
Every run must end with the plan's intent at the broker (exit 0) or exit 2 naming every
job that needs attention; no action committed twice, no journal error.

No timing is asserted; the full run (500) and its figures are in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def test_faults_short_every_run_meets_intent_or_names_its_jobs() -> None:
    # Latency past the client's 10 s timeout makes a run last 15-30 s: the full bench has it.
    args = ["--runs", "50", "--workers", "6", "--seed", "7", "--no-timeouts", "--json"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=280
    )
    out = done.stdout + done.stderr
    totals = json.loads(done.stdout.strip().splitlines()[-1])
    assert totals["scenarios"] == 50, out
    assert totals["faults_injected"] > 0, out
    assert totals["intent"] + totals["attention"] == 50, out
    assert totals["neither"] == 0, out
    assert totals["duplicates"] == 0, out
    assert totals["journal_errors"] == 0, out
    assert done.returncode == 0, out
