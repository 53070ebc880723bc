"""A restart with many overdue jobs on one order hangs forever (found by bench/chaos.py).

On restart every job whose time has passed is scheduled at `now`, so they all share one
instant, but `Runner._scheduler` sizes the pool from `Counter(job.at ...)`, the planned
instants (all distinct here): 1 + 2 = 3 threads. APScheduler hands out jobs that share a
run time in job-id order ("steps[10]" < "steps[1]"), and `Runner._await_turn` holds a
pool thread while a job waits for the earlier jobs of its order. steps[10], [11] and [12]
take the three threads and wait for steps[1], which waits in the pool's queue: no thread
ever frees, no output, no exit (PYTHONFAULTHANDLER + SIGABRT shows the three threads in
`_await_turn` and the main thread in `Runner._wait`).

Fixed: the pool is sized to the most jobs alive at once by their actual start times
(`Runner._pool_size`).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.loopback import SimProcess, dry_run, run_cli

STEPS = 13  # steps[10..12] sort before steps[1] and outnumber the pool's 3 threads
PLAN = (
    "version: 1\n"
    "name: reliability-overdue\n"
    "description: One order placed, then nudged one tick at a time; nothing fills.\n"
    "orders:\n"
    '  a: {symbol: "000300", side: buy, qty: 10, price: 60000, at: "+200ms"}\n'
    "steps:\n"
    + "".join(
        f'  - at: "+{300 + 100 * i}ms"\n    modify: {{order: a, price: "+1 tick"}}\n'
        for i in range(STEPS)
    )
    + "policy:\n  misfire_grace: 10m\n"
)


@pytest.fixture
def sim():
    s = SimProcess("--codes", "open")  # made-up codes / one price for all
    yield s
    s.close()


def test_restart_with_many_overdue_jobs_on_one_order_finishes(sim, tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    args = dry_run(plan, sim.url, tmp_path)
    crashed = run_cli(*args, env={"PLANRUNNER_CRASH_AT": "a.place:0:after-post"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    time.sleep(2.0)  # every step is now overdue: a restart schedules all of them at `now`
    try:
        resumed = run_cli(*args, env={"PLANRUNNER_SETTLE_SECONDS": "0.3"}, timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("the restarted runner hung (deadlock in Runner._await_turn)")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    modifies = [e for e in sim.order_requests() if e["api_id"] == "kt10002"]
    assert len(modifies) == STEPS
