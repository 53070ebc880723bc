"""The runner and the simulator in separate processes over real loopback HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from planrunner.sim.behaviour import Behaviour
from tests.support.loopback import (
    FAKE_KEYS,
    PLANRUNNER,
    SimProcess,
    dry_run,
    ending,
    run_cli,
    start_planrunner,
)
from tests.support.plan_text import chain
from tests.support.readings import readings, sim_args

CHAIN = chain("loopback-chain")


@pytest.fixture
def reading(request: pytest.FixtureRequest) -> Behaviour:
    """The broker reading the simulator plays: today's defaults unless a test is
    parametrized with `reading` (tests/support/readings.py)."""
    return getattr(request, "param", Behaviour())


@pytest.fixture
def sim(reading: Behaviour):
    s = SimProcess(*sim_args(reading))
    yield s
    s.close()


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    p = tmp_path / "chain.yaml"
    p.write_text(CHAIN)
    return p


def _run(plan: Path, sim: SimProcess, state: Path, **env: str):
    return run_cli(*dry_run(plan, sim.url, state), env=env)


def _assert_chain_ran_once(sim: SimProcess, reading: Behaviour) -> None:
    reqs = sim.order_requests()
    kinds = [(e["api_id"], e["body"].get("mdfy_uv") or e["body"].get("cncl_qty")) for e in reqs]
    assert kinds == [("kt10000", None), ("kt10002", "69100"), ("kt10003", "4"), ("kt10003", "0")], (
        kinds
    )
    # The log keeps the simulator's 7-digit numbers; a request names them as the broker
    # writes them. The trim to 6 is a partial cancel of 4: the final cancel names the
    # number the 6 stay open under (the modify's, or with remainder=cancel the trim's own).
    first, modified, trim = (reading.number(e["ord_no"]) for e in reqs[:3])
    rest = trim if reading.remainder == "cancel" else modified
    assert [e["body"]["orig_ord_no"] for e in reqs[1:]] == [first, modified, rest]
    open_now = [o for o in sim.get("orders")["orders"] if o["remaining"] > 0]
    assert open_now == []
    filled = sum(o["filled"] for o in sim.get("orders")["orders"])
    assert filled == 0  # resting under the market all along: 4 + 6 cancelled, nothing else


@pytest.mark.parametrize("reading", readings(), indirect=True)
def test_plan_runs_over_loopback_with_relative_times(sim, reading, plan, tmp_path):
    done = _run(plan, sim, tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_chain_ran_once(sim, reading)
    one, two = (reading.number(f"{n:07d}") for n in (1, 2))
    assert f"{one} → {two} (modify" in done.stdout


# Each crash point under the defaults, the switch that most changes what the restart must
# find in the broker's lists (the answer is lost: its fields play no part), and all
# switches at once (docs/testing.md).
CRASHES = {
    "entry.place:0:after-post": ("padding",),  # the broker has the order, no ack journaled
    "entry.modify@+2s:1:after-post": ("orig_ord_no",),
    "entry.modify@+3s:0:after-post": ("remainder",),  # the trim: a partial cancel
    "entry.cancel@+4s:0:after-post": ("fills_list",),
}


@pytest.mark.parametrize(
    ("crash_at", "reading"),
    [
        pytest.param(crash, *p.values, id=f"{crash}-{p.id}", marks=p.marks)
        for crash, switches in CRASHES.items()
        for p in readings(*switches)
    ],
    indirect=["reading"],
)
def test_sigkill_then_restart_sends_every_request_exactly_once(
    sim, reading, plan, tmp_path, crash_at
):
    state = tmp_path / "state"
    crashed = _run(plan, sim, state, PLANRUNNER_CRASH_AT=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    resumed = _run(plan, sim, state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "reconciled" in resumed.stdout
    _assert_chain_ran_once(sim, reading)


# The modify's restart looks for a row naming the placement as its parent: under the
# readings that list more rows (or name the root), none may be taken for the modify.
@pytest.mark.parametrize(
    ("crash_at", "reading"),
    [
        pytest.param("entry.place:0:after-intent", Behaviour(), id="entry.place:0:after-intent"),
        *(
            pytest.param(
                "entry.modify@+2s:1:after-intent",
                *p.values,
                id=f"entry.modify@+2s:1:after-intent-{p.id}",
                marks=p.marks,
            )
            for p in readings("orig_ord_no", "fills_list")
        ),
    ],
    indirect=["reading"],
)
def test_issue11_item1_sigkill_between_intent_and_post_is_reported_never_resent(
    sim, plan, tmp_path, crash_at
):
    """The journal says intent, the POST never left; nothing tells the restart so (it may
    have left just before the kill). Not found at the broker, the request stays in doubt:
    reported, exit 2, never sent (it used to be resent as "never reached the broker")."""
    state = tmp_path / "state"
    crashed = _run(plan, sim, state, PLANRUNNER_CRASH_AT=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    before = [(e["api_id"], e["ord_no"]) for e in sim.order_requests()]
    resumed = _run(plan, sim, state)
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    job = crash_at.split(":")[0]
    assert "in doubt" in resumed.stdout and job in resumed.stdout, resumed.stdout
    # nothing on the order was sent after the restart: its later steps wait on the doubt
    assert [(e["api_id"], e["ord_no"]) for e in sim.order_requests()] == before


def test_issue13_the_product_reads_no_test_seam_from_the_environment(sim, plan, tmp_path):
    """`planrunner` itself ignores the crash and settle seams: only the test entry point
    (tests/support/entry.py) installs them."""
    env = {
        **os.environ,
        **FAKE_KEYS,
        "PLANRUNNER_CRASH_AT": "entry.place:0:after-intent",
        "PLANRUNNER_SETTLE_SECONDS": "0",
    }
    done = subprocess.run(
        [*PLANRUNNER, *dry_run(plan, sim.url, tmp_path / "state")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_chain_ran_once(sim, Behaviour())


SLOW = CHAIN.replace('"+4s"', '"+60s"').replace("loopback-chain", "loopback-slow")


def test_second_runner_refuses_and_ctrl_c_exits_130_with_a_consistent_journal(sim, tmp_path):
    plan = tmp_path / "slow.yaml"
    plan.write_text(SLOW)
    state = tmp_path / "state"
    with ending(start_planrunner(*dry_run(plan, sim.url, state))) as first:
        sim.wait_requests(3, timeout=30)
        second = _run(plan, sim, state)
        assert second.returncode == 2
        assert f"another runner (pid {first.pid})" in second.stderr
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 130, out + err
    status = run_cli("status", str(plan), "--state-dir", str(state), "--format", "json")
    assert status.returncode == 0, status.stderr
    import json

    data = json.loads(status.stdout)
    states = {j["job"]: j["state"] for j in data["jobs"]}
    assert states == {
        "entry.place": "done",
        "entry.modify@+2s": "done",
        "entry.modify@+3s": "done",
        "entry.cancel@+60s": "pending",
    }
    assert data["attention"] == []
    # Resuming later finishes the plan: only the cancel is left to send.
    assert len(sim.order_requests()) == 3
