"""Issue 16 intents against the simulator, beyond the example plans: a trailing stop's
level survives a restart, and one-cancels-other groups resize or cancel the other leg
exactly once. The truth is the simulator's book and request log."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.text import status_data
from planrunner.engine.events import ACKED, INFO, TRIGGERED
from planrunner.engine.journal import replay
from planrunner.sim.behaviour import Behaviour
from tests.support.readings import readings
from tests.support.rehearsal import OPEN, Rehearsal, compile_text


class Script(list[Any]):
    """The run's event list, acting at points of the run: each step (kind, job, text, act)
    runs `act` once, in the emitting thread, at the first event of that kind (and job,
    when given) whose message contains `text`. The market moves and the run stops at
    those points whatever the machine's load (nothing races a clock)."""

    def __init__(self, *steps: tuple[str, str | None, str, Callable[[], object]]) -> None:
        super().__init__()
        self.steps = list(steps)
        self.lock = threading.Lock()

    def append(self, event: Any) -> None:
        super().append(event)
        with self.lock:
            due = [
                st
                for st in self.steps
                if event.kind == st[0] and st[1] in (None, event.job) and st[2] in event.message
            ]
            for st in due:
                self.steps.remove(st)
        for st in due:
            st[3]()


def _rehearsed(
    tmp_path: Path, text: str, market: str, speed: float, reading: Behaviour | None = None
):
    """The plan text compiled for the rehearsal's day, and a rehearsal of `market`."""
    compiled = compile_text(tmp_path, text)  # first, as the rehearsal's clock starts
    return compiled, Rehearsal(tmp_path, scenario=market, speed=speed, behaviour=reading)


def _market(symbol: str, price: int) -> str:
    """`symbol` alone, standing at `price` until the test moves it; at most 4 shares of an
    order fill on each move."""
    return (
        f'symbols: {{"{symbol}": {{base: {price}, price: {price}, walk: false}}}}\n'
        "default: {fill: {mode: partial, max_qty: 4}}\n"
    )


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
FLAT = "symbols: {'005930': {base: 70000, price: 70000, walk: false}}"


def test_issue16_item2_trailing_level_resumes_after_a_restart(tmp_path: Path) -> None:
    compiled, first = _rehearsed(tmp_path, TRAIL_PLAN, FLAT, 300)
    stop = threading.Event()
    # First run: the price climbs 70,000 → 71,000 → 72,000, each move once the level
    # has followed the last; it stops the moment the level is 70,600 (2% below 72,000).
    first.events = Script(
        (INFO, None, "level 68,600", lambda: first.sim.set_price("005930", 71000)),
        (INFO, None, "level 69,600", lambda: first.sim.set_price("005930", 72000)),
        (INFO, None, "level 70,600", stop.set),
    )
    first.run(compiled, stop=stop)
    trails = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    assert [(x["best"], x["level"]) for x in trails] == [
        (70000, 68600),
        (71000, 69600),
        (72000, 70600),
    ]
    assert first.sent("kt10000", "kt10001") == []
    # `status` tells where the level stands.
    rows = status_data(compiled, replay(tmp_path / "journal.jsonl"))["jobs"]
    [row] = [x for x in rows if x["job"] == "trigger:trail"]
    assert (row["state"], row["reason"]) == ("armed", "level 70,600 (best 72,000)")
    assert (row["level"], row["best"]) == (trails[-1]["level"], trails[-1]["best"])  # numbers
    # The restart, at 09:15 with the price at 70,000. Resumed, the level is 70,600 and
    # 70,000 is below it: the stop fires at once. (Armed afresh, the level would start
    # at 68,600 and the price, standing still, would never reach it.)
    second = Rehearsal(tmp_path, scenario=FLAT, speed=300, start=OPEN + dt.timedelta(minutes=15))
    stop = threading.Event()
    second.events = Script((ACKED, None, "acked place", stop.set))
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
OCO_MARKET = _market("000660", 205000)


# Every reading: each resize is a partial cancel whose rest the next one must find.
@pytest.mark.parametrize("reading", readings())
def test_issue16_item3_oco_resizes_once_across_a_restart_and_cancels_on_a_whole_fill(
    tmp_path: Path, reading: Behaviour
) -> None:
    compiled, r = _rehearsed(tmp_path, OCO_PLAN, OCO_MARKET, 600, reading)

    def fill_more() -> None:  # one price move up to the offer: tp fills up to 4 more
        r.sim.set_price("000660", 209500)
        r.sim.set_price("000660", 210000)

    # Run 1: once tp is placed, 4 of it fill; the run stops when sl's resize is acked.
    stop = threading.Event()
    r.events = Script(
        (ACKED, "tp.place", "", fill_more),
        (ACKED, "oco:exit:sl@4", "", stop.set),
    )
    r.run(compiled, stop=stop)
    assert [b["cncl_qty"] for b in r.sent("kt10003")] == ["4"]  # sl: 10 → 6
    # Run 2, a restart on the same broker: the resize for tp's 4 is in the journal and
    # is not sent again; 4 more fill (sl: 6 → 2), then the last 2 (sl cancelled).
    r.events = Script(
        (INFO, None, "resuming", fill_more),
        (ACKED, "oco:exit:sl@8", "", fill_more),
    )
    result = r.run(compiled)
    assert result.exit_code == 0, result.attention
    # The restarted run did only the two later resizes; the summary says so.
    assert result.stats["oco"] == {"oco:exit:sl@8": "done", "oco:exit:sl@10": "done"}
    cancels = r.sent("kt10003")
    assert [b["cncl_qty"] for b in cancels] == ["4", "4", "0"]
    book = r.sim.orders()
    tp = next(o for o in book.values() if o.kind == "order" and o.order_type == "limit")
    sl = next(o for o in book.values() if o.kind == "order" and o.order_type == "stop_limit")
    assert (tp.filled, tp.remaining) == (10, 0)
    assert (sl.filled, sl.remaining) == (0, 0)
    # Each names a number of sl's lineage as the broker writes it (padding=none: unpadded).
    assert {b["orig_ord_no"] for b in cancels} <= {
        reading.number(o.ord_no) for o in book.values() if o.ord_no != tp.ord_no
    }
    if reading.remainder == "cancel":  # the rest moved to each resize's own number
        assert cancels[1]["orig_ord_no"] != cancels[0]["orig_ord_no"]
    jobs = [
        x["job"] for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "intent"
    ]
    assert [j for j in jobs if j.startswith("oco:")] == [
        "oco:exit:sl@4",
        "oco:exit:sl@8",
        "oco:exit:sl@10",
    ]
    rows = status_data(compiled, replay(tmp_path / "journal.jsonl"))["jobs"]
    assert [(x["job"], x["order"], x["state"]) for x in rows if x["job"].startswith("oco:")] == [
        ("oco:exit:sl@4", "sl", "done"),
        ("oco:exit:sl@8", "sl", "done"),
        ("oco:exit:sl@10", "sl", "done"),
    ]


BRACKET_PLAN = """\
version: 1
name: bracket
orders:
  entry: {symbol: "005930", side: buy, qty: 10, price: 70000, at: "09:00"}
steps:
  - at: "09:05"
    cancel: {order: entry}
triggers:
  - id: take-profit
    when: {filled: {order: entry}}
    place: {id: tp, symbol: "005930", side: sell, from_fill: entry, price: "+5 ticks"}
  - id: stop-loss
    when: {filled: {order: entry}}
    place: {id: sl, symbol: "005930", side: sell, from_fill: entry, type: stop_limit,
            stop_price: "-2%", price: "-3%"}
oco:
  - {id: exit, legs: [tp, sl]}
"""
# 70,000 on arrival: the buy fills 4 (at most 4 per move) and waits for more.
BRACKET_MARKET = _market("005930", 70000)


# Every reading (the legs are sized from the entry's fills after its cancel; sl's cancel).
@pytest.mark.parametrize("reading", readings())
def test_issue16_item1_bracket_from_a_partial_fill_then_oco_cancel_on_a_whole_fill(
    tmp_path: Path, reading: Behaviour
) -> None:
    compiled, r = _rehearsed(tmp_path, BRACKET_PLAN, BRACKET_MARKET, 600, reading)
    placed: list[str] = []

    def leg_placed() -> None:  # both legs at the broker: the price reaches the take-profit
        placed.append("leg")
        if len(placed) == 2:
            r.sim.set_price("005930", 70500)

    r.events = Script(
        (ACKED, "trigger:take-profit", "", leg_placed),
        (ACKED, "trigger:stop-loss", "", leg_placed),
    )
    result = r.run(compiled)
    assert result.exit_code == 0, result.attention
    # 4 filled at 70,000 and the rest was cancelled at 09:05: both legs are for those 4.
    buy, *sells = r.sent("kt10000", "kt10001")
    assert (buy["ord_qty"], buy["ord_uv"]) == ("10", "70000")
    legs = sorted((b["trde_tp"], b["ord_qty"], b["ord_uv"], b["cond_uv"]) for b in sells)
    assert legs == [
        ("0", "4", "70500", ""),  # +5 ticks from 70,000
        ("28", "4", "67900", "68600"),  # -3% limit, -2% stop (exact here)
    ]
    # The take-profit filled whole: the stop was cancelled (all of it), once.
    cancels = r.sent("kt10003")
    assert [b["cncl_qty"] for b in cancels] == ["0", "0"]  # entry's rest at 09:05, then sl
    book = r.sim.orders()
    tp = next(
        o for o in book.values() if o.kind == "order" and o.side == "sell" and o.price == 70500
    )
    sl = next(o for o in book.values() if o.kind == "order" and o.order_type == "stop_limit")
    assert (tp.filled, tp.remaining) == (4, 0)
    assert (sl.filled, sl.remaining) == (0, 0)
    assert [o for o in book.values() if o.remaining > 0] == []
    intents = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "intent"]
    basis = {x["job"]: x.get("from_fill") for x in intents if x["job"].startswith("trigger:")}
    fill = {"order": "entry", "filled": 4, "value": 280000}  # 4 x 70,000
    assert basis == {"trigger:take-profit": fill, "trigger:stop-loss": fill}


BUY_TRAIL_PLAN = """\
version: 1
name: buy-trail
orders:
  later: {symbol: "005930", side: sell, qty: 1, price: 90000, at: "09:30"}
triggers:
  - id: rebound
    when: {trailing: {symbol: "005930", above_low: "1.5%"}}
    between: ["09:00", "09:30"]
    place: {id: cover, symbol: "005930", side: buy, qty: 5, type: market}
"""


def test_issue16_item2_buy_trailing_stop_follows_the_low_and_rounds_down(tmp_path: Path) -> None:
    compiled, r = _rehearsed(tmp_path, BUY_TRAIL_PLAN, FLAT, 300)
    stop = threading.Event()

    def under_then_at_level() -> None:  # 68,900: under the level; then 69,000: at it
        r.sim.set_price("005930", 68900)
        threading.Timer(0.2, lambda: r.sim.set_price("005930", 69000)).start()

    # The price falls 70,000 → 69,000 → 68,000, each move once the level has followed.
    r.events = Script(
        (INFO, None, "level 71,000", lambda: r.sim.set_price("005930", 69000)),
        (INFO, None, "level 70,000", lambda: r.sim.set_price("005930", 68000)),
        (INFO, None, "level 69,000", under_then_at_level),
        (ACKED, None, "acked place", stop.set),
    )
    r.run(compiled, stop=stop)
    trails = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    # 1.5% above each low, rounded down: 71,050 → 71,000; 70,035 → 70,000; 69,020 → 69,000.
    assert [(x["best"], x["level"]) for x in trails] == [
        (70000, 71000),
        (69000, 70000),
        (68000, 69000),
    ]
    # 68,900 is under the level; 69,000 reaches it.
    assert [e.message for e in r.events if e.kind == TRIGGERED] == [
        "trigger rebound fired (005930 69,000)"
    ]
    [buy] = r.sent("kt10000")
    assert (buy["ord_qty"], buy["trde_tp"]) == ("5", "3")
