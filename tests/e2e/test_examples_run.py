"""Every example plan, rehearsed on the embedded simulator with its scenario.

The truth is the simulator's own request log and order book, never our journal.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.launch import RunOptions, run_plan
from planrunner.sim.behaviour import Behaviour

ROOT = Path(__file__).resolve().parents[2]
PLANS = sorted((ROOT / "plans").glob("*.yaml"))
ORDER_APIS = ("kt10000", "kt10001", "kt10002", "kt10003")


def _switch(target: Any, behaviour: Behaviour | None) -> None:
    if behaviour is not None:
        target.simulator.set_behaviour(behaviour)


class Rehearsal:
    def __init__(
        self, plan: Path, tmp: Path, speed: float = 4000, behaviour: Behaviour | None = None
    ):
        self.events: list[Any] = []
        self.behaviour = behaviour or Behaviour()
        keep: dict[str, Any] = {}
        opts = RunOptions(
            state_dir=tmp,
            scenario=ROOT / "plans" / "scenarios" / plan.name,
            speed=speed,
        )
        self.result = run_plan(
            plan,
            opts,
            emit=self.events.append,
            stop=threading.Event(),
            on_target=lambda t: (keep.update(target=t), _switch(t, behaviour)),
        )
        self.sim = keep["target"].simulator

    def sent(self, *api_ids: str) -> list[dict[str, str]]:
        """Order request bodies, numbers in the simulator's 7-digit form (any padding)."""
        return [
            _padded(e.body)
            for e in self.sim.log_snapshot()
            if e.api_id in (api_ids or ORDER_APIS) and e.committed
        ]

    def book(self) -> dict[str, Any]:
        return self.sim.orders()

    def filled(self, symbol: str) -> int:
        return sum(o.filled for o in self.book().values() if o.symbol == symbol)

    def open_orders(self) -> list[Any]:
        return [o for o in self.book().values() if o.remaining > 0]


def _padded(body: dict[str, str]) -> dict[str, str]:
    if body.get("orig_ord_no", "").isdigit():
        return body | {"orig_ord_no": f"{int(body['orig_ord_no']):07d}"}
    return body


def test_every_example_has_a_scenario():
    missing = [p.name for p in PLANS if not (ROOT / "plans" / "scenarios" / p.name).exists()]
    assert missing == []


def _open_ladder(r: Rehearsal) -> None:
    modifies = r.sent("kt10002")
    assert [b["mdfy_uv"] for b in modifies] == [str(p) for p in range(70100, 70800, 100)]
    assert all(b["mdfy_qty"] == "0" for b in modifies)
    numbers = [b["orig_ord_no"] for b in modifies]
    assert len(set(numbers)) == len(numbers)  # each modify names a new number
    [cancel] = r.sent("kt10003")
    assert cancel["cncl_qty"] == "0" and cancel["orig_ord_no"] not in numbers
    assert r.filled("005930") == 4 and r.open_orders() == []


def _emergency_close(r: Rehearsal) -> None:
    [cancel] = r.sent("kt10003")
    assert cancel["cncl_qty"] == "0"
    market = [b for b in r.sent("kt10001") if b["trde_tp"] == "3"]
    assert [b["ord_qty"] for b in market] == ["14"]  # 6 filled before: only 14 remain
    assert r.filled("000660") == 20 and r.open_orders() == []
    assert r.result.jobs["exit.market@15:15"].startswith("skipped")


def _add_to_position(r: Rehearsal) -> None:
    places = r.sent("kt10000")
    assert [(b["ord_qty"], b["ord_uv"]) for b in places] == [("10", "69500"), ("16", "69600")]
    assert [b["cncl_qty"] for b in r.sent("kt10003")] == ["0", "8", "0"]
    assert r.filled("005930") == 8 and r.open_orders() == []


def _adopt_order(r: Rehearsal) -> None:
    modifies = r.sent("kt10002")
    assert modifies[0]["orig_ord_no"] == "0000139"
    assert [b["mdfy_uv"] for b in modifies] == ["202000", "201500", "201000", "200500", "200000"]
    assert r.sent("kt10003") == []
    assert r.filled("000660") == 5


def _sor_sell(r: Rehearsal) -> None:
    places = r.sent("kt10001")
    assert sorted(b["dmst_stex_tp"] for b in places) == ["NXT", "SOR"]
    [cancel] = r.sent("kt10003")
    guard = next(o for o in r.book().values() if o.order_type == "stop_limit" and o.kind == "order")
    assert cancel["orig_ord_no"] == guard.ord_no
    assert r.filled("005930") == 30 and r.open_orders() == []


def _quick_relative(r: Rehearsal) -> None:
    bodies = r.sent()
    assert [b.get("mdfy_uv") or b.get("cncl_qty") or b.get("ord_qty") for b in bodies] == [
        "10",
        "70100",
        "4",
        "70000",
        "0",
    ]
    if r.behaviour.remainder == "original":
        assert bodies[3]["orig_ord_no"] == bodies[2]["orig_ord_no"]  # a partial cancel keeps it
    assert r.filled("005930") == 0 and r.open_orders() == []
    steps = ["probe.modify@+4s", "probe.modify@+6s", "probe.modify@+8s", "probe.cancel@+10s"]
    assert r.result.jobs == dict.fromkeys(steps, "done") | {"probe.place": "done"}


CHECKS = {
    "open-ladder.yaml": _open_ladder,
    "emergency-close.yaml": _emergency_close,
    "add-to-position.yaml": _add_to_position,
    "adopt-order.yaml": _adopt_order,
    "sor-sell.yaml": _sor_sell,
    "quick-relative.yaml": _quick_relative,
}


@pytest.mark.parametrize("plan", PLANS, ids=[p.stem for p in PLANS])
def test_example_plan_reaches_its_intended_broker_state(plan, tmp_path):
    assert plan.name in CHECKS, f"add a check for {plan.name}"
    r = Rehearsal(plan, tmp_path)
    assert r.result.exit_code == 0, r.result.attention
    CHECKS[plan.name](r)


BEHAVIOURS = [*Behaviour.each_unusual(), Behaviour.all_unusual()]


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[",".join(b.changed()) for b in BEHAVIOURS])
@pytest.mark.parametrize("plan", PLANS, ids=[p.stem for p in PLANS])
def test_issue12_acceptance2_examples_under_each_broker_behaviour(plan, behaviour, tmp_path):
    r = Rehearsal(plan, tmp_path, behaviour=behaviour)
    assert r.result.exit_code == 0, r.result.attention
    CHECKS[plan.name](r)
    book = r.book()
    for summary in r.result.orders:
        # The summary's figures are the broker's: its open and filled per lineage.
        numbers = {int(x.split()[0]) for x in summary.lineage if x.split()[0].isdigit()}
        mine = [
            o
            for o in book.values()
            if int(o.ord_no) in numbers or (o.orig_ord_no and int(o.orig_ord_no) in numbers)
        ]
        assert summary.remaining == sum(o.remaining for o in mine), summary
