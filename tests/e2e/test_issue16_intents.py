"""Issue 16 intents against the simulator, beyond the example plans: a trailing stop's
level survives a restart, and one-cancels-other groups resize or cancel the other leg
exactly once. The truth is the simulator's book and request log."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from planrunner.engine.events import ACKED, INFO, TRIGGERED
from planrunner.engine.journal import replay
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from tests.support.rehearsal import DAY, OPEN, Rehearsal


class StopOn(list[Any]):
    """The run's event list; sets `stop` from the emitting thread at the first event of
    `kind` whose message contains `seen`, so the run stops right there, whatever the
    machine's load."""

    def __init__(self, stop: threading.Event, kind: str, seen: str) -> None:
        super().__init__()
        self.stop, self.kind, self.seen = stop, kind, seen

    def append(self, event: Any) -> None:
        super().append(event)
        if event.kind == self.kind and self.seen in event.message:
            self.stop.set()


def _compiled(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    return compile_plan(load_plan(f), day=DAY, run_start=OPEN)


TRAIL_PLAN = """\
version: 1
name: trail-restart
orders:
  later: {symbol: "005930", side: buy, qty: 1, price: 60000, at: "09:50"}
triggers:
  - id: trail
    when: {trailing: {symbol: "005930", below_high: "2%"}}
    between: ["09:00", "09:45"]
    place: {id: stop, symbol: "005930", side: sell, qty: 10, type: market}
"""
# Before the restart the price climbs to 72,000; after it, it stands at 70,000.
CLIMB = """\
symbols:
  "005930":
    base: 70000
    walk: false
    path: [["09:00", 70000], ["09:05", 71000], ["09:10", 72000]]
"""
FLAT = "symbols: {'005930': {base: 70000, price: 70000, walk: false}}"


def test_issue16_item2_trailing_level_resumes_after_a_restart(tmp_path: Path) -> None:
    compiled = _compiled(tmp_path, TRAIL_PLAN)
    first = Rehearsal(tmp_path, scenario=CLIMB, speed=1200)
    stop = threading.Event()
    # First run: stopped the moment the level reaches 70,600 (2% below 72,000, rounded up).
    first.events = StopOn(stop, INFO, "level 70,600")
    first.run(compiled, stop=stop)
    trails = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    assert [(x["best"], x["level"]) for x in trails] == [
        (70000, 68600),
        (71000, 69600),
        (72000, 70600),
    ]
    assert first.sent("kt10000", "kt10001") == []
    # The restart, at 09:15 with the price at 70,000. Resumed, the level is 70,600 and
    # 70,000 is below it: the stop fires at once. (Armed afresh, the level would start
    # at 68,600 and the price, standing still, would never reach it.)
    second = Rehearsal(tmp_path, scenario=FLAT, speed=1200, start=OPEN + dt.timedelta(minutes=15))
    stop = threading.Event()
    second.events = StopOn(stop, ACKED, "acked place")
    second.run(compiled, stop=stop)
    assert [e.message for e in second.events if e.kind == TRIGGERED] == [
        "trigger trail fired (005930 70,000)"
    ]
    [sell] = second.sent("kt10001")
    assert (sell["ord_qty"], sell["trde_tp"]) == ("10", "3")
    [order] = second.sim.orders().values()
    assert (order.side, order.filled, order.remaining) == ("sell", 10, 0)
    # Nothing new was journaled for the level: 70,000 is no new high.
    again = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    assert again == trails


OCO_PLAN = """\
version: 1
name: oco-restart
orders:
  tp: {symbol: "000660", side: sell, qty: 10, price: 210000, at: "09:00"}
  sl: {symbol: "000660", side: sell, qty: 10, type: stop_limit, stop_price: 195000,
       price: 194500, at: "09:00"}
oco:
  - {id: exit, legs: [tp, sl]}
"""
# The test moves the price itself (one move: at most 4 shares of tp fill).
OCO_MARKET = """\
symbols: {"000660": {base: 205000, price: 205000, walk: false}}
default: {fill: {mode: partial, max_qty: 4}}
"""


class Driver(list[Any]):
    """The run's event list that moves the market when the run reaches a point: `moves`
    maps (event kind, job) to a callable run in the emitting thread; `stop_at` stops the
    run at that (kind, job)."""

    def __init__(
        self,
        moves: dict[tuple[str, str | None], Any],
        stop: threading.Event,
        stop_at: tuple[str, str | None] | None = None,
    ) -> None:
        super().__init__()
        self.moves, self.stop, self.stop_at = moves, stop, stop_at

    def append(self, event: Any) -> None:
        super().append(event)
        key = (event.kind, event.job)
        if key in self.moves:
            self.moves.pop(key)()
        if key == self.stop_at:
            self.stop.set()


def test_issue16_item3_oco_resizes_once_across_a_restart_and_cancels_on_a_whole_fill(
    tmp_path: Path,
) -> None:
    compiled = _compiled(tmp_path, OCO_PLAN)
    r = Rehearsal(tmp_path, scenario=OCO_MARKET, speed=600)

    def fill_more() -> None:  # one price move up to the offer: tp fills up to 4 more
        r.sim.set_price("000660", 209500)
        r.sim.set_price("000660", 210000)

    # Run 1: once tp is placed, 4 of it fill; the run stops when sl's resize is acked.
    stop = threading.Event()
    r.events = Driver({(ACKED, "tp.place"): fill_more}, stop, (ACKED, "oco:exit:sl@4"))
    r.run(compiled, stop=stop)
    assert [b["cncl_qty"] for b in r.sent("kt10003")] == ["4"]  # sl: 10 → 6
    # Run 2, a restart on the same broker: the resize for tp's 4 is in the journal and
    # is not sent again; 4 more fill (sl: 6 → 2), then the last 2 (sl cancelled).
    r.events = Driver(
        {(INFO, None): fill_more, (ACKED, "oco:exit:sl@8"): fill_more}, threading.Event()
    )
    result = r.run(compiled)
    assert result.exit_code == 0, result.attention
    cancels = r.sent("kt10003")
    assert [b["cncl_qty"] for b in cancels] == ["4", "4", "0"]
    book = r.sim.orders()
    tp = next(o for o in book.values() if o.kind == "order" and o.order_type == "limit")
    sl = next(o for o in book.values() if o.kind == "order" and o.order_type == "stop_limit")
    assert (tp.filled, tp.remaining) == (10, 0)
    assert (sl.filled, sl.remaining) == (0, 0)
    assert {b["orig_ord_no"] for b in cancels} <= {o.ord_no for o in book.values()} - {tp.ord_no}
    jobs = [
        x["job"] for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "intent"
    ]
    assert [j for j in jobs if j.startswith("oco:")] == [
        "oco:exit:sl@4",
        "oco:exit:sl@8",
        "oco:exit:sl@10",
    ]
