"""Without the feed, a read that finds new fills prints the price of what newly filled
(issue 14), not the average of everything filled so far. Kiwoom's lists give each order
number its filled quantity and average price only: the new fills' price is what the
lineage's value grew by over their quantity, and says `avg` when it may be an average
of several fills. Checked against the simulator's own fills, number by number."""

from __future__ import annotations

from pathlib import Path

from planrunner.engine.events import Event
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal
from planrunner.model import Action, Modify, Place
from tests.support.feed import live_sim
from tests.support.rehearsal import plan, spec

PARTIAL = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


Fills = list[tuple[int, int]]  # the simulator's fills so far: (qty, price), oldest first


def _polled(
    tmp: Path, moves: list[tuple[int, Action | None]], scenario: str = PARTIAL, limit: int = 69000
) -> tuple[list[Event], list[Fills]]:
    """Place `entry`, then for each (price, action) set the simulator's price, let 5 s
    pass, carry out the action (if any), and read the order. The events, and after each read the
    simulator's fills (qty, price) over every number, oldest first."""
    entry = spec("entry", price=limit, qty=10)
    events: list[Event] = []
    seen: list[Fills] = []
    with live_sim(scenario) as live:
        journal = Journal(tmp / "journal.jsonl")
        journal.open()
        try:
            ex = Executor(
                plan=plan([entry], []),
                client=live.client,
                journal=journal,
                clock=live.clock,
                emit=events.append,
            )
            ex.execute("place:entry", Place(spec=entry))
            for n, (price, action) in enumerate(moves):
                live.sim.set_price("005930", price)
                live.clock.advance(5)
                if action is not None:
                    ex.execute(f"step{n}", action)
                ex.status("entry")
                views = sorted(live.sim.orders().values(), key=lambda v: v.ord_no)
                seen.append([(f.qty, f.price) for v in views for f in v.fills])
        finally:
            journal.close()
    return events, seen


def _check_against_the_simulator(events: list[Event], seen: list[Fills]) -> list[Event]:
    fills = [e for e in events if e.kind == "fill"]
    before: Fills = []
    for after in seen:
        new = after[len(before) :]
        if new:
            fill = fills.pop(0)
            qty = sum(q for q, _ in new)
            value = sum(q * p for q, p in new)
            assert fill.data["qty"] == qty, (fill.message, new)
            assert fill.data["price"] * qty == value, (fill.message, new)
            assert isinstance(fill.data["price"], int)
            shown = f"{fill.data['price']:,}"
            word = ("avg " if qty > 1 else "") + ("" if fill.data["price_exact"] else "~")
            assert f"filled {qty} more at {word}{shown} (" in fill.message, fill.message
            total = sum(q for q, _ in after)
            assert fill.data["avg_price"] == sum(q * p for q, p in after) // total
        before = after
    assert not fills, [f.message for f in fills]
    return [e for e in events if e.kind == "fill"]


def test_issue14_two_partial_fills_at_different_prices_each_print_their_own(tmp_path):
    # 3 fill at the limit, 69,000; the rest is repriced to 69,500 (a new number), which
    # buys 3 at once on the 69,400 market: the second line says that price, not the
    # average of the six.
    events, seen = _polled(tmp_path, [(69000, None), (69400, Modify(order="entry", price=69500))])
    _one, two = _check_against_the_simulator(events, seen)
    prices = {p for _q, p in seen[-1]}
    assert len(prices) == 2, seen  # the simulator did fill at two prices
    assert two.data["price"] != two.data["avg_price"]
    assert f"(6/10 filled, average {two.data['avg_price']:,})" in two.message, two.message


def test_issue14_a_polled_single_share_has_no_avg(tmp_path):
    """One share newly filled has one price: no `avg`."""
    one = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false, fill: {mode: partial, max_qty: 1}}
"""
    events, seen = _polled(tmp_path, [(69000, None)], one)
    [fill] = _check_against_the_simulator(events, seen)
    assert fill.message.startswith("filled 1 more at 69,000 (1/10 filled)"), fill.message


def test_issue14_a_number_that_filled_before_grows_its_price_is_approximate(tmp_path):
    """A resting 69,500 bid fills 3, then 3 more on the same number: the broker's average
    for that number (rounded to the won) is all there is, so the new fills' price comes
    from subtracting one rounded average from another and says `~`."""
    events, seen = _polled(tmp_path, [(69400, None), (69300, None)], limit=69500)
    one, two = _check_against_the_simulator(events, seen)
    assert one.data["price_exact"] and not two.data["price_exact"]
    assert "at avg ~" in two.message and "~" not in one.message
