"""A mid-run reconcile must not settle other jobs' requests from a stale list (found by
bench/faults.py; fixed in b8e74a8 while this test was being written, kept as its
regression test).

When a job's order POST has an unknown outcome, `Runner._execute` calls `reconcile`,
which walks `journal.state.in_doubt()` as it was at that moment: every intent without
an outcome, including requests other jobs have in flight. It sleeps until each is
SETTLE_SECONDS old and reads the broker, but never checks that the request is still in
doubt. Before the fix a concurrent place acked (and done) meanwhile is then journaled
`reconciled found=false` ("never reached the broker"), after its `ack` and `done`: replay
turns the job back to `sent`, so `status` lists a finished job as needing attention, and
the journal claims an executed order never reached the broker.

Here `a` (buy) and `b` (sell) are placed at the same instant; kt10000 answers 1999 after
committing (100 ms late), kt10001 answers 400 ms late; settle is 1 s, so `b` is acked
long before reconcile reaches it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planrunner.engine.journal import replay
from tests.support.loopback import SimProcess, dry_run, run_cli

PLAN = """\
version: 1
name: reliability-stale
description: Two places at one instant; the buy's answer is lost.
orders:
  a: {symbol: "000400", side: buy, qty: 10, price: 60000, at: "+500ms"}
  b: {symbol: "000500", side: sell, qty: 10, price: 80000, at: "+500ms"}
"""
FAULTS = ("latency:api=kt10000,ms=100", "1999:api=kt10000,commit=yes", "latency:api=kt10001,ms=400")


@pytest.fixture
def sim():
    args = [x for spec in FAULTS for x in ("--fault", spec)]
    args += ["--codes", "open"]  # made-up codes
    s = SimProcess(*args)
    yield s
    s.close()


def test_mid_run_reconcile_leaves_other_jobs_finished_requests_alone(sim, tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    state = tmp_path / "state"
    args = dry_run(plan, sim.url, state)
    done = run_cli(*args, env={"PLANRUNNER_SETTLE_SECONDS": "1.0"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(sim.order_requests()) == 2  # one buy, one sell: nothing sent twice
    (journal,) = state.glob("reliability-stale/*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    stale = [r for r in records if r["type"] == "reconciled" and r["job"] == "b.place"]
    assert stale == [], stale
    rep = replay(journal)
    assert {j: s.state for j, s in rep.jobs.items()} == {"a.place": "done", "b.place": "done"}
    status = run_cli("status", str(plan), "--state-dir", str(state), "--format", "json")
    assert json.loads(status.stdout)["attention"] == []
