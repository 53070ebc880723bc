"""Fills as they happen: each `00` fill pushed by the simulator's WebSocket is printed at
once (quantity, price, filled/ordered, the broker's time), journaled with its price, and
the summary and `status` show the average fill price. 127.0.0.1, a manual clock, waits
on events only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planrunner.app.text import status_data, status_lines
from planrunner.engine.events import Event
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal
from planrunner.engine.summary import summarize
from planrunner.model import Place
from tests.support.feed import Live, Recorder, live_sim
from tests.support.rehearsal import plan, spec

PARTIAL = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


@contextmanager
def executing(
    live: Live, tmp: Path, price: int
) -> Iterator[tuple[Executor, Journal, list[Event], Place]]:
    entry = spec("entry", price=price, qty=10)
    compiled = plan([entry], [])
    events: list[Event] = []
    journal = Journal(tmp / "journal.jsonl")
    journal.open()
    emit = events.append
    ex = Executor(plan=compiled, client=live.client, journal=journal, clock=live.clock, emit=emit)
    rec = Recorder()
    feed = live.client.feed(rec, backoff=(0.05, 0.5), close_timeout=0.2)
    rec.order = ex.note_pushed  # type: ignore[method-assign]
    feed.watch_orders()
    feed.start()
    try:
        assert feed.wait_up(30)
        rec.wait(lambda r: live.sim.hub.sessions() and live.session().wants("00", ""))
        yield ex, journal, events, Place(spec=entry)
    finally:
        feed.close()
        journal.close()


def _fill_lines(events: list[Event]) -> list[str]:
    return [e.message for e in list(events) if e.kind == "fill"]


def _reads(live: Live) -> int:
    return sum(1 for e in live.sim.log_snapshot() if e.api_id in ("ka10075", "ka10076"))


def test_issue14_fills_printed_and_journaled_as_pushed(tmp_path: Path) -> None:
    with live_sim(PARTIAL) as live, executing(live, tmp_path, 69000) as (ex, journal, events, act):
        ex.execute("place:entry", act)
        reads = _reads(live)
        live.sim.set_price("005930", 69000)  # 3 fill at the limit
        Recorder().wait(lambda r: len(_fill_lines(events)) == 1)
        live.clock.advance(5)
        live.sim.set_price("005930", 68900)  # 3 more
        Recorder().wait(lambda r: len(_fill_lines(events)) == 2)
        assert _fill_lines(events) == [
            "filled 3 at 69,000 (3/10 filled) at 10:00:00",
            "filled 3 at 69,000 (6/10 filled) at 10:00:05",
        ]
        assert _reads(live) == reads  # no order read: the feed told
        fill = next(e for e in reversed(events) if e.kind == "fill")
        assert fill.data["qty"] == 3 and fill.data["price"] == 69000
        assert (fill.data["filled"], fill.data["ordered"], fill.data["avg_price"]) == (6, 10, 69000)
        rec = journal.state.fills["entry"]
        assert (rec["filled"], rec["price"], rec["value"], rec["source"]) == (
            6,
            69000,
            414000,
            "feed",
        )
        data = status_data(ex.plan, journal.state)
        assert data["fills"]["entry"]["avg_price"] == 69000
        line = "entry: 6 filled at an average 69,000, 4 open, last fill 10:00:05"
        assert line in status_lines(data)
        result = summarize(
            plan=ex.plan, executor=ex, journal=journal, states={}, fatal=None, interrupted=False
        )
        assert result.orders[0].avg_fill_price == 69000
        assert result.orders[0].as_dict()["avg_fill_price"] == 69000


def test_issue14_fill_pushed_before_the_orders_answer_is_not_lost(tmp_path: Path) -> None:
    with live_sim(PARTIAL) as live, executing(live, tmp_path, 70000) as (ex, journal, events, act):
        ex.execute("place:entry", act)  # marketable: 3 fill on arrival, maybe before the ack
        Recorder().wait(lambda r: len(_fill_lines(events)) == 1)
        assert _fill_lines(events) == ["filled 3 at 70,000 (3/10 filled) at 10:00:00"]
        assert journal.state.fills["entry"]["filled"] == 3


def test_issue14_polled_fill_shows_its_average_price(tmp_path: Path) -> None:
    """Without the feed (or while it is down) a fill seen by an order read prints its
    average price too."""
    with live_sim(PARTIAL) as live:
        entry = spec("entry", price=69000, qty=10)
        compiled = plan([entry], [])
        events: list[Event] = []
        journal = Journal(tmp_path / "journal.jsonl")
        journal.open()
        try:
            ex = Executor(
                plan=compiled,
                client=live.client,
                journal=journal,
                clock=live.clock,
                emit=events.append,
            )
            ex.execute("place:entry", Place(spec=entry))
            live.sim.set_price("005930", 69000)  # 3 fill at the limit
            ex.status("entry")
        finally:
            journal.close()
    assert _fill_lines(events) == ["filled 3 more at avg 69,000 (3/10 filled) at 10:00:00"]
    fill = next(e for e in events if e.kind == "fill")
    assert fill.data["avg_price"] == 69000 and fill.data["qty"] == 3


def test_issue12_a_pushed_fill_is_matched_whatever_the_numbers_padding(tmp_path: Path) -> None:
    """The order's answer wrote 0000001; the broker then pushes its fill as 1 (no leading
    zeros): one number. The fill is printed from the push, not lost until a read."""
    with live_sim(PARTIAL) as live, executing(live, tmp_path, 69000) as (ex, journal, events, act):
        ex.execute("place:entry", act)
        assert [link.ord_no for link in journal.state.lineage["entry"]] == ["0000001"]
        live.sim.set_behaviour({"padding": "none"})
        reads = _reads(live)
        live.sim.set_price("005930", 69000)  # 3 fill at the limit, pushed as number "1"
        Recorder().wait(lambda r: len(_fill_lines(events)) == 1)
        assert _fill_lines(events) == ["filled 3 at 69,000 (3/10 filled) at 10:00:00"]
        assert _reads(live) == reads  # the push told
        assert journal.state.fills["entry"]["ord_no"] == "1"
