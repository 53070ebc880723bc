"""Steps that cancel and re-send, and ladders over a price the plan does not know.

`market` and `replace` check their second order before the cancel; a ladder's limit holds
on the price the broker tells. Counted from the simulator's request log and book.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planrunner.engine.events import Event, RunResult
from planrunner.engine.journal import replay
from planrunner.model import (
    Cancel,
    CompiledPlan,
    Market,
    Modify,
    Place,
    Policy,
    PriceCond,
    Replace,
    Trigger,
)
from tests.support.rehearsal import Rehearsal, at, compile_text, job, plan, spec

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


def _hedge_by_hand(tmp_path: Path) -> Rehearsal:
    """000660 at 190,000, and 0000139 placed by hand: sell 5 at 200,000, resting."""
    r = Rehearsal(tmp_path, scenario="symbols: {'000660': {price: 190000, walk: false}}")
    r.sim.set_next_ord_no(139)
    assert r.target is not None
    r.target.client.place(symbol="000660", side="sell", qty=5, price=200000, order_type="limit")
    return r


def test_issue11_item6_adopted_ladder_never_passes_its_limit(tmp_path):
    # The adopted order rests at the broker at 200,000; the plan does not state its price.
    r = _hedge_by_hand(tmp_path)
    compiled = compile_text(tmp_path, ADOPTED_LADDER)
    assert compiled.orders["hedge"].price is None
    result = r.run(compiled)
    prices = [int(b["mdfy_uv"]) for b in r.sent("kt10002")]
    # 200,000 → 199,800 … 199,000 in -2 tick (200 won) rungs; never below the limit.
    assert prices == [199800, 199600, 199400, 199200, 199000]
    [open_] = [o for o in r.sim.orders().values() if o.remaining]
    assert open_.price == 199000
    ladder = {j: s for j, s in result.jobs.items() if j.startswith("hedge.ladder@")}
    limited = [ladder[j] for j in sorted(ladder, key=lambda j: int(j.rsplit("#", 1)[1]))][5:]
    assert limited and all(s.startswith("skipped (ladder limit reached: 198,800") for s in limited)
    assert result.exit_code == 0, result.attention


REPLACED_LADDER = """\
version: 1
name: replaced-ladder
orders:
  hedge: {adopt: "0000139", symbol: "000660", side: sell, qty: 5}
steps:
  - at: "09:00:10"
    replace: {order: hedge, qty: 5}
  - ladder:
      {order: hedge, every: 10s, by: -2 ticks, from: "09:00:20", until: "09:01:40", limit: 199000}
policy: {misfire_grace: 10m}
"""


def test_issue11_item6_replace_without_price_keeps_the_brokers_and_the_ladder_limit(tmp_path):
    r = _hedge_by_hand(tmp_path)
    result = r.run(compile_text(tmp_path, REPLACED_LADDER))
    assert [(b["ord_qty"], b["ord_uv"]) for b in r.sent("kt10001")] == [
        ("5", "200000"),  # placed by hand
        ("5", "200000"),  # the replace: the broker's price of the order it replaced
    ]
    prices = [int(b["mdfy_uv"]) for b in r.sent("kt10002")]
    assert prices == [199800, 199600, 199400, 199200, 199000]
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


def _wait(cond: Callable[[], bool], what: str) -> None:
    """Wait for something the run does (an event, a poll): no real time is asserted."""
    deadline = time.monotonic() + 60
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.002)


class Driven:
    """A run on a long trigger window whose market the test moves with `set_price` once
    the run has reacted to the previous move: nothing depends on how fast this machine is."""

    def __init__(self, tmp_path: Path, compiled: CompiledPlan, **kw: Any):
        self.r = Rehearsal(
            tmp_path, scenario="symbols: {'005930': {price: 69500, walk: false}}", **kw
        )
        self.stop = threading.Event()
        self.result: RunResult | None = None
        self.thread = threading.Thread(target=self._run, args=(compiled,), daemon=True)

    def _run(self, compiled: CompiledPlan) -> None:
        self.result = self.r.run(compiled, self.stop)

    def start(self) -> Driven:
        self.thread.start()
        _wait(lambda: bool(self._events("acked", "entry.place")), "the placement")
        return self

    def _events(self, kind: str, job: str) -> list[Event]:
        return [e for e in list(self.r.events) if e.kind == kind and e.job == job]

    def quotes(self) -> int:
        return sum(1 for e in self.r.sim.log_snapshot() if e.api_id == "ka10001")

    def price(self, value: int) -> None:
        self.r.sim.set_price("005930", value)

    def polled(self, n: int = 2) -> None:
        """Until the watcher has read the price `n` more times (a whole poll saw it)."""
        seen = self.quotes()
        _wait(lambda: self.quotes() >= seen + n, "the trigger's polls")

    def fired(self, job: str) -> None:
        """Until the firing `job` has an outcome in the journal."""

        def done() -> bool:
            js = replay(self.r.tmp / "journal.jsonl").jobs.get(job)
            return js is not None and js.state in ("done", "skipped", "failed")

        _wait(done, job)

    def finish(self, *, stop: bool = False) -> RunResult:
        if stop:
            self.stop.set()
        self.thread.join(timeout=60)
        assert self.result is not None
        return self.result


def _dip_trigger(action: object = None, **kw: object) -> Trigger:
    return Trigger(
        id=str(kw.pop("id", "dip")),
        when=PriceCond(symbol="005930", op="below", value=69000),
        action=action or Modify(order="entry", ticks=-1),  # type: ignore[arg-type]
        between=(dt.time(9, 0), dt.time(15, 0)),
        repeat=bool(kw.pop("repeat", True)),
    )


def _dips(trigger: Trigger, policy: Policy | None = None) -> CompiledPlan:
    entry = spec(price=68000)  # rests below every price the test sets but the last
    return plan([entry], [job("entry.place", 0.1, Place(spec=entry))], (trigger,), policy=policy)


def test_issue11_item14_repeat_trigger_fires_on_every_crossing(tmp_path):
    run = Driven(tmp_path, _dips(_dip_trigger())).start()
    run.price(68900)  # crossing 1
    run.fired("trigger:dip")
    run.price(69500)  # back above: the condition is false
    run.polled()
    run.price(68800)  # crossing 2
    run.fired("trigger:dip#2")
    run.polled(4)  # still below: the same crossing, nothing more
    run.price(67000)  # the bid (67,800) fills: the trigger has nothing left to act on,
    run.price(69500)  # which the watcher reads while the condition is false: it ends
    result = run.finish()
    r = run.r
    assert [b["mdfy_uv"] for b in r.sent("kt10002")] == ["67900", "67800"]
    assert r.messages("triggered") == [
        "trigger:dip: trigger dip fired (005930 68,900)",
        "trigger:dip#2: trigger dip fired (005930 68,800)",
    ]
    assert "never held" not in (r.tmp / "journal.jsonl").read_text()
    state = replay(r.tmp / "journal.jsonl")
    assert [state.jobs[j].state for j in ("trigger:dip", "trigger:dip#2")] == ["done", "done"]
    assert result.exit_code == 0, result.attention


def test_issue11_item14_repeat_trigger_restart_does_not_refire_its_crossing(tmp_path):
    compiled = _dips(_dip_trigger())
    first = Driven(tmp_path, compiled).start()
    first.price(68900)
    first.fired("trigger:dip")
    first.finish(stop=True)  # stopped while the price is still below 69,000
    # The same journal, the price still below: that crossing is spent.
    again = Driven(tmp_path, compiled, start=at(10))
    again.r.sim.set_next_ord_no(2)  # the book of the first run, as far as the plan knows
    again.price(68900)
    assert again.r.target is not None
    again.r.target.client.place(
        symbol="005930", side="buy", qty=10, price=67900, order_type="limit"
    )
    again.thread.start()
    again.polled(6)
    result = again.finish(stop=True)
    assert again.r.sent("kt10002") == []
    assert again.r.messages("triggered") == []
    assert "never held" not in (tmp_path / "journal.jsonl").read_text()
    assert result.exit_code == 130  # stopped by the test


def test_issue11_item5_a_stop_trigger_market_refused_cancels_nothing_and_exits_2(tmp_path):
    stop = _dip_trigger(Market(order="entry"), id="stop", repeat=False)
    run = Driven(tmp_path, _dips(stop, CAPPED)).start()
    run.price(68900)
    run.fired("trigger:stop")
    result = run.finish()  # a trigger that fired once is done watching: the run ends
    r = run.r
    assert r.sent("kt10003") == []
    assert [(o.remaining, o.state) for o in r.sim.orders().values()] == [(10, "open")]
    assert "trigger:stop: failed (market not sent, nothing cancelled: order value 903,000" in (
        "\n".join(result.attention)
    )
    assert result.exit_code == 2
