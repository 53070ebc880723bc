"""Crash-restart repros found while building bench/chaos.py (issue 7).

A SIGKILL just after an order POST (PLANRUNNER_CRASH_AT=JOB:REQ:after-post) leaves the
broker with the request and the journal with an intent only. The restart reconciles from
ka10075 / ka10076, which never list cancel records, so a cancel's outcome is guessed:

- a partial cancel (`cancel: {qty: 3}`) leaves its target open, so reconcile concludes
  "never reached the broker" and the cancel is sent a second time (a duplicate);
- the cancel leg of a `market` switch is acked with qty 0 (the target is in neither
  list), so the market leg is skipped as "filled before the cancel" and the run exits 0
  with the order cancelled and nothing bought (a lost action).

Fixed: the cancel's intent records what its target had open and filled, and reconcile
settles the cancel by quantity (planrunner/engine/reconcile.py).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.loopback import SimProcess, dry_run, run_cli

PLAN = """\
version: 1
name: reliability-cancel
description: Nothing fills (limits far from the 70,000 market); one market switch.
orders:
  a: {symbol: "000100", side: buy, qty: 10, price: 60000}
  b: {symbol: "000200", side: sell, qty: 10, price: 80000}
steps:
  - at: "+500ms"
    market: {order: a}
  - at: "+500ms"
    cancel: {order: b, qty: 3}
"""


@pytest.fixture
def sim():
    s = SimProcess("--codes", "open")  # made-up codes / one price for all
    yield s
    s.close()


def _crash_then_resume(sim: SimProcess, tmp_path: Path, crash_at: str) -> str:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    state = tmp_path / "state"
    args = dry_run(plan, sim.url, state)
    crashed = run_cli(*args, env={"PLANRUNNER_CRASH_AT": crash_at})
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    resumed = run_cli(*args)
    return f"exit {resumed.returncode}\n{resumed.stdout}{resumed.stderr}"


def _requests(sim: SimProcess, symbol: str) -> list[tuple[str, str, str]]:
    return [
        (
            e["api_id"],
            e["body"].get("cncl_qty", e["body"].get("ord_qty", "")),
            e["body"].get("trde_tp", ""),
        )
        for e in sim.order_requests()
        if e["body"]["stk_cd"] == symbol
    ]


def test_partial_cancel_killed_after_post_is_not_sent_twice(sim, tmp_path):
    out = _crash_then_resume(sim, tmp_path, "b.cancel@+0.5s:0:after-post")
    assert _requests(sim, "000200") == [("kt10001", "10", "0"), ("kt10003", "3", "")], out
    (b,) = [o for o in sim.get("orders")["orders"] if o["symbol"] == "000200" and o["remaining"]]
    assert b["remaining"] == 7, out


def test_market_switch_killed_after_cancel_post_still_places_the_market_order(sim, tmp_path):
    out = _crash_then_resume(sim, tmp_path, "a.market@+0.5s:0:after-post")
    assert out.startswith("exit 0"), out
    assert _requests(sim, "000100") == [
        ("kt10000", "10", "0"),
        ("kt10003", "0", ""),
        ("kt10000", "10", "3"),
    ], out
