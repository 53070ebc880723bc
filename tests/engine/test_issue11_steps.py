"""Steps that cancel and re-send, and ladders over a price the plan does not know.

`market` and `replace` check their second order before the cancel; a ladder's limit holds
on the price the broker tells. Counted from the simulator's request log and book.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.model import Cancel, Market, Modify, Place, Policy, PriceCond, Replace, Trigger
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from tests.support.rehearsal import DAY, OPEN, Rehearsal, at, job, plan, spec

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
policy: {misfire_grace: 10m}  # a loaded machine must not make a rung late
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


TWO = """
symbols:
  "005930": {price: 70000, walk: false}
  "000660": {price: 190000, walk: false}
"""


def _adopt_run(tmp_path: Path, **plan_side: object):
    """Broker order 0000001 is a 000660 sell of 5 at 200,000; the plan adopts 0000001
    as it describes it, moves it a tick at +1m and cancels it at +2m."""
    r = Rehearsal(tmp_path, scenario=TWO)
    assert r.target is not None
    r.target.client.place(symbol="000660", side="sell", qty=5, price=200000, order_type="limit")
    fields: dict[str, object] = dict(symbol="000660", side="sell", qty=5, price=None)
    fields.update(plan_side)
    hedge = spec("hedge", adopt=fields.pop("adopt", "0000001"), **fields)
    result = r.run(
        plan(
            [hedge],
            [
                job("steps[0]", 1, Modify(order="hedge", ticks=1)),
                job("steps[1]", 2, Cancel(order="hedge")),
            ],
        )
    )
    sent = r.sent("kt10000", "kt10001", "kt10002", "kt10003")
    return r, result, sent[1:]  # after the order placed by hand


def _still_open(r: Rehearsal) -> list[tuple[str, str, int, int | None]]:
    return [(o.symbol, o.side, o.remaining, o.price) for o in r.sim.orders().values()]


def test_issue11_item8_adopt_with_the_wrong_symbol_is_refused(tmp_path):
    r, result, sent = _adopt_run(tmp_path, symbol="005930", side="buy")
    assert sent == []
    assert _still_open(r) == [("000660", "sell", 5, 200000)]
    assert result.exit_code == 2
    [line] = [a for a in result.attention if a.startswith("hedge: adopt 0000001 refused")]
    assert line == (
        "hedge: adopt 0000001 refused, symbol and side differ: "
        "plan 005930 buy 5 open on KRX; broker 000660 sell 5 open at 200,000 on KRX"
    )
    assert result.jobs == {}  # nothing was scheduled
    assert [(o.order, o.state) for o in result.orders] == [("hedge", "not adopted")]


def test_issue11_item8_adopt_with_the_wrong_side_is_refused(tmp_path):
    r, result, sent = _adopt_run(tmp_path, side="buy")
    assert sent == []
    assert _still_open(r) == [("000660", "sell", 5, 200000)]
    assert result.exit_code == 2
    assert any("refused, side differ: plan 000660 buy 5" in a for a in result.attention)


def test_issue11_item8_adopt_of_an_unknown_number_is_refused(tmp_path):
    r, result, sent = _adopt_run(tmp_path, adopt="0000007")
    assert sent == []
    assert _still_open(r) == [("000660", "sell", 5, 200000)]
    assert result.exit_code == 2
    assert any(
        a.startswith("hedge: adopt 0000007 refused: no open order 0000007 at the broker")
        for a in result.attention
    )


def test_issue11_item8_adopt_that_matches_runs(tmp_path):
    _r, result, sent = _adopt_run(tmp_path, price=200000)
    assert [b.get("mdfy_uv") or b.get("cncl_qty") for b in sent] == ["200500", "0"]
    assert result.exit_code == 0, result.attention


DIPS = """
symbols:
  "005930":
    base: 70000
    walk: false
    path:
      [["09:00", 69500], ["09:03", 68900], ["09:06", 69500], ["09:09", 68800], ["09:12", 69400]]
"""


def _dip_trigger() -> Trigger:
    return Trigger(
        id="dip",
        when=PriceCond(symbol="005930", op="below", value=69000),
        action=Modify(order="entry", ticks=-1),  # lower the bid a tick on each dip
        between=(dt.time(9, 0), dt.time(9, 13)),
        repeat=True,
    )


def _journal_text(r: Rehearsal) -> str:
    return (r.tmp / "journal.jsonl").read_text()


def test_issue11_item14_repeat_trigger_fires_on_every_crossing(tmp_path):
    r = Rehearsal(tmp_path, scenario=DIPS, speed=600)
    entry = spec(price=68000)  # rests below every price of the path
    result = r.run(plan([entry], [job("entry.place", 0.1, Place(spec=entry))], (_dip_trigger(),)))
    # Two crossings (09:03 and 09:09), one modify each; 09:06 and 09:12 are not crossings.
    # Each price holds 3 virtual minutes (0.3 s real): many polls see each of them.
    assert [b["mdfy_uv"] for b in r.sent("kt10002")] == ["67900", "67800"]
    assert [m for m in r.messages("triggered")] == [
        "trigger:dip: trigger dip fired (005930 68,900)",
        "trigger:dip#2: trigger dip fired (005930 68,800)",
    ]
    assert "never held" not in _journal_text(r)
    state = r.journal().open()
    assert [state.jobs[j].state for j in ("trigger:dip", "trigger:dip#2")] == ["done", "done"]
    assert result.exit_code == 0, result.attention


def test_issue11_item14_repeat_trigger_restart_does_not_refire_its_crossing(tmp_path):
    first = Rehearsal(tmp_path, scenario=DIPS, speed=600)
    entry = spec(price=68000)
    compiled = plan([entry], [job("entry.place", 0.1, Place(spec=entry))], (_dip_trigger(),))
    first.run(compiled)
    # The same journal, again on a book where the price sits below 69,000 from the start:
    # the crossings of the first run are spent, so nothing fires until a new one.
    again = Rehearsal(
        tmp_path,
        scenario="symbols: {'005930': {base: 70000, walk: false, path: [['09:00', 68700]]}}",
        speed=600,
        start=at(10),  # 09:10, three minutes before the trigger's window ends
    )
    again.sim.set_next_ord_no(3)  # the book of the first run, as far as the plan knows
    assert again.target is not None
    again.target.client.place(symbol="005930", side="buy", qty=10, price=67800, order_type="limit")
    result = again.run(compiled)
    assert again.sent("kt10002") == []
    assert again.messages("triggered") == []
    assert result.exit_code == 0, result.attention


def test_issue11_item5_a_stop_trigger_market_refused_cancels_nothing_and_exits_2(tmp_path):
    r = Rehearsal(tmp_path, scenario=DIPS, speed=600)
    entry = spec(price=68000)
    stop = Trigger(
        id="stop",
        when=PriceCond(symbol="005930", op="below", value=69000),
        action=Market(order="entry"),
        between=(dt.time(9, 0), dt.time(9, 4)),
    )
    result = r.run(
        plan([entry], [job("entry.place", 0.1, Place(spec=entry))], (stop,), policy=CAPPED)
    )
    assert r.sent("kt10003") == []
    assert [(o.remaining, o.state) for o in r.sim.orders().values()] == [(10, "open")]
    assert "trigger:stop: failed (market not sent, nothing cancelled: order value 910,000" in (
        "\n".join(result.attention)
    )
    assert result.exit_code == 2
