"""The kill switch against a running plan, over loopback."""

from __future__ import annotations

import pytest

from tests.support.loopback import SimProcess, dry_run, run_cli, start_planrunner
from tests.support.plan_text import plan_of
from tests.support.readings import readings, sim_args

PLAN = plan_of(
    "kill-switch",
    'a: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "+1s"}',
    'b: {symbol: "000660", side: buy, qty: 3, price: 68000, at: "+1s"}',
    steps=(
        '{at: "+2s", modify: {order: a, price: 69100}}',
        '{at: "+3s", modify: {order: a, qty: 6}}',
        '{at: "+120s", modify: {order: b, price: 68100}}',
    ),
    about="Two resting bids, one raised then trimmed to 6, and a late step that must never run.",
)


# Today's broker, the readings that change how the kill switch finds and cancels what is
# open (where a trim's rest is listed, a modified order's number, the cancel's answer, the
# numbers' form), and all switches at once (issue 12).
@pytest.mark.parametrize("reading", readings("remainder", "orig_ord_no", "all_qty", "padding"))
def test_cancel_all_stops_the_runner_and_cancels_every_open_order(tmp_path, reading):
    plan = tmp_path / "kill.yaml"
    plan.write_text(PLAN)
    state = tmp_path / "state"
    # --codes open: 000660 at 68,000, one price for every code (not the table's)
    sim = SimProcess("--codes", "open", *sim_args(reading))
    try:
        runner = start_planrunner(*dry_run(plan, sim.url, state))
        assert len(sim.wait_requests(4, timeout=30)) == 4  # two places, the modify and the trim
        done = run_cli(
            "cancel-all", str(plan), "--dry-run", "--base-url", sim.url, "--state-dir", str(state)
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"stopped runner pid {runner.pid}" in done.stdout
        assert "a: cancelled" in done.stdout and "b: cancelled" in done.stdout
        runner.communicate(timeout=30)
        assert runner.returncode == 130
        reqs = sim.order_requests()
        assert (reqs[3]["api_id"], reqs[3]["body"]["cncl_qty"]) == ("kt10003", "4")  # the trim
        cancels = reqs[4:]
        assert [e["body"]["cncl_qty"] for e in cancels] == ["0", "0"]
        # The log keeps the simulator's 7-digit numbers; a request names them as the broker
        # writes them (padding=none: without leading zeros). a's 6 stay open under the
        # modify's number, or with remainder=cancel under the trim's own.
        a_no = reading.number(reqs[3 if reading.remainder == "cancel" else 2]["ord_no"])
        b_no = reading.number(next(e["ord_no"] for e in reqs if e["body"]["stk_cd"] == "000660"))
        assert sorted(e["body"]["orig_ord_no"] for e in cancels) == sorted([a_no, b_no])
        assert [o for o in sim.get("orders")["orders"] if o["remaining"] > 0] == []
        assert not any(e["body"].get("mdfy_uv") == "68100" for e in reqs)
        again = run_cli(
            "cancel-all", str(plan), "--dry-run", "--base-url", sim.url, "--state-dir", str(state)
        )
        assert again.returncode == 0 and "stopped runner" not in again.stdout
        assert "a: skipped (not open at the broker (cancelled))" in again.stdout
    finally:
        sim.close()
