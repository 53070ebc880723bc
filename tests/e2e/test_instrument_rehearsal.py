"""A rehearsal of a plan on an ETN the built-in table does not know: the plan declares
`instrument: etn`, and the plan checks, the runner and the simulator all use its grid."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from planrunner.app.launch import RunOptions, run_plan

PLAN = """\
version: 1
name: etn-ladder
date: 2026-11-26
orders:
  entry:
    symbol: "550001"
    instrument: etn
    side: buy
    qty: 5
    price: 10005
    at: "09:00:05"
steps:
  - ladder: {order: entry, every: 5m, by: +1 tick, from: "09:30", until: "09:40", limit: 10030}
  - at: "09:45"
    cancel: {order: entry}
"""
SCENARIO = """\
symbols:
  "550001": {base: 10100, walk: false}
"""


def test_issue15_item1_etn_ladder_rehearses_on_its_own_grid(tmp_path: Path) -> None:
    plan = tmp_path / "etn.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    keep: dict[str, Any] = {}
    result = run_plan(
        plan,
        RunOptions(state_dir=tmp_path / "state", scenario=scenario, speed=4000),
        emit=lambda e: None,
        stop=threading.Event(),
        on_target=lambda t: keep.update(target=t),
    )
    assert result.exit_code == 0, result.attention
    sim = keep["target"].simulator
    sent = [e for e in sim.log_snapshot() if e.api_id in ("kt10000", "kt10002") and e.committed]
    prices = [e.body.get("ord_uv") or e.body.get("mdfy_uv") for e in sent]
    assert prices == ["10005", "10010", "10015", "10020"]  # 5-won ticks, not 10-won
    assert all(e.return_code == 0 for e in sent)


UNLISTED = """\
version: 1
name: unlisted-code
date: 2026-11-26
orders:
  entry: {symbol: "012330", side: buy, qty: 1, price: 250000, at: "09:00:05"}
steps:
  - at: "09:01"
    cancel: {order: entry}
"""


def test_issue15_item4_a_rehearsal_trades_the_plans_codes_and_refuses_others(
    tmp_path: Path,
) -> None:
    """The simulator refuses codes it does not list, but a rehearsal's own codes trade:
    it cannot know Kiwoom's list (a run asks the broker with ka10100)."""
    import pytest

    from planrunner.kiwoom.exceptions import UnknownSymbol

    plan = tmp_path / "unlisted.yaml"
    plan.write_text(UNLISTED, encoding="utf-8")
    keep: dict[str, Any] = {}
    result = run_plan(
        plan,
        RunOptions(state_dir=tmp_path / "state", speed=4000),
        emit=lambda e: None,
        stop=threading.Event(),
        on_target=lambda t: keep.update(target=t),
    )
    assert result.exit_code == 0, result.attention
    target = keep["target"]
    placed = [e for e in target.simulator.log_snapshot() if e.api_id == "kt10000"]
    assert [(e.body["stk_cd"], e.return_code) for e in placed] == [("012330", 0)]
    with pytest.raises(UnknownSymbol):
        target.client.quote("999999")
