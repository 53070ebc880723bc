"""Steps that cancel and re-send, and ladders over a price the plan does not know.

`market` and `replace` check their second order before the cancel; a ladder's limit holds
on the price the broker tells. Counted from the simulator's request log and book.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.model import Market, Place, Policy, Replace
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from tests.support.rehearsal import DAY, OPEN, Rehearsal, job, plan, spec

CAPPED = Policy(misfire_grace=dt.timedelta(minutes=5), max_order_value=800_000)


def _run_step(tmp_path: Path, step: object):
    r = Rehearsal(tmp_path)
    entry = spec(price=69000)  # buy 10 at 69,000 = 690,000: under the cap
    result = r.run(
        plan(
            [entry],
            [job("entry.place", 0.1, Place(spec=entry)), job("steps[0]", 1, step)],  # type: ignore[arg-type]
            policy=CAPPED,
        )
    )
    return r, result


def test_issue11_item5_market_checks_before_cancel(tmp_path):
    # A market buy is valued at the upper limit: 10 x 91,000 = 910,000 > 800,000.
    r, result = _run_step(tmp_path, Market(order="entry"))
    assert r.sent("kt10003") == []  # nothing cancelled
    assert len(r.sent("kt10000")) == 1  # the limit order only
    assert [(o.remaining, o.state) for o in r.sim.orders().values()] == [(10, "open")]
    assert result.jobs["steps[0]"] == (
        "failed (market not sent, nothing cancelled: "
        "order value 910,000 KRW exceeds max_order_value 800,000)"
    )
    assert any(a.startswith("steps[0]: failed (market not sent") for a in result.attention)
    assert result.exit_code == 2


def test_issue11_item5_replace_checks_value_before_cancel(tmp_path):
    r, result = _run_step(tmp_path, Replace(order="entry", qty=20, price=69000))
    assert r.sent("kt10003") == []
    assert len(r.sent("kt10000")) == 1
    assert result.jobs["steps[0]"].startswith("failed (replace not sent, nothing cancelled: ")
    assert "1,380,000" in result.jobs["steps[0]"]
    assert result.exit_code == 2


def test_issue11_item5_replace_checks_price_limits_before_cancel(tmp_path):
    # 95,000 is above the day's upper limit (91,000): the broker would refuse the new order.
    r, result = _run_step(tmp_path, Replace(order="entry", qty=10, price=95000))
    assert r.sent("kt10003") == []
    assert result.jobs["steps[0]"].startswith("failed (replace not sent, nothing cancelled: ")
    assert "outside today's limits" in result.jobs["steps[0]"]
    assert result.exit_code == 2


ADOPTED_LADDER = """\
version: 1
name: adopted-ladder
orders:
  hedge: {adopt: "0000139", symbol: "000660", side: sell, qty: 5}
steps:
  - ladder:
      {order: hedge, every: 10s, by: -2 ticks, from: "09:00:10", until: "09:01:30", limit: 199000}
"""


def test_issue11_item6_adopted_ladder_never_passes_its_limit(tmp_path):
    r = Rehearsal(tmp_path, scenario="symbols: {'000660': {price: 190000, walk: false}}")
    # The adopted order rests at the broker at 200,000; the plan does not state its price.
    r.sim.set_next_ord_no(139)
    assert r.target is not None
    r.target.client.place(symbol="000660", side="sell", qty=5, price=200000, order_type="limit")
    f = tmp_path / "p.yaml"
    f.write_text(ADOPTED_LADDER)
    compiled = compile_plan(load_plan(f), day=DAY, run_start=OPEN)
    assert compiled.orders["hedge"].price is None
    result = r.run(compiled)
    prices = [int(b["mdfy_uv"]) for b in r.sent("kt10002")]
    # 200,000 → 199,800 … 199,000 in -2 tick (200 won) rungs; never below the limit.
    assert prices == [199800, 199600, 199400, 199200, 199000]
    [open_] = [o for o in r.sim.orders().values() if o.remaining]
    assert open_.price == 199000
    limited = [s for j, s in result.jobs.items() if j.startswith("steps[0]#")][5:]
    assert limited and all(s.startswith("skipped (ladder limit reached: 198,800") for s in limited)
    assert result.exit_code == 0, result.attention
