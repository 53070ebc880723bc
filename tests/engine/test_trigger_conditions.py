"""Trigger conditions and windows as tables, then end to end on the simulator."""

from __future__ import annotations

import datetime as dt

import pytest

from planrunner.engine.checks import OrderStatus
from planrunner.engine.triggers import holds, window
from planrunner.model import (
    AllCond,
    AnyCond,
    Cancel,
    FilledCond,
    PartiallyFilledCond,
    Place,
    PriceCond,
    Trigger,
)
from tests.support.rehearsal import DAY, Rehearsal, at, job, plan, spec

LOW = PriceCond(symbol="005930", op="below", value=69000)
HIGH = PriceCond(symbol="005930", op="at_or_above", value=71000)
HYNIX = PriceCond(symbol="000660", op="at_or_below", value=200000)
FILLED = FilledCond(order="entry")
PARTIAL = PartiallyFilledCond(order="entry")


def _st(filled: int, remaining: int) -> OrderStatus:
    return OrderStatus(
        ord_no="0000001", is_open=remaining > 0, remaining=remaining, filled=filled, price=69000
    )


@pytest.mark.parametrize(
    ("cond", "prices", "fills", "expected"),
    [
        (LOW, {"005930": 68900}, {}, True),
        (LOW, {"005930": 69000}, {}, False),  # below is strict
        (PriceCond(symbol="005930", op="at_or_below", value=69000), {"005930": 69000}, {}, True),
        (PriceCond(symbol="005930", op="above", value=71000), {"005930": 71000}, {}, False),
        (HIGH, {"005930": 71000}, {}, True),
        (LOW, {}, {}, False),  # no price seen yet: never fires
        (FILLED, {}, {"entry": _st(10, 0)}, True),
        (FILLED, {}, {"entry": _st(4, 6)}, False),
        (FILLED, {}, {"entry": _st(0, 0)}, False),  # cancelled, nothing filled
        (PARTIAL, {}, {"entry": _st(4, 6)}, True),
        (PARTIAL, {}, {"entry": _st(0, 10)}, False),
        (AllCond(items=(PARTIAL, HIGH)), {"005930": 71000}, {"entry": _st(1, 9)}, True),
        (AllCond(items=(PARTIAL, HIGH)), {"005930": 70900}, {"entry": _st(1, 9)}, False),
        (AnyCond(items=(LOW, HYNIX)), {"005930": 70000, "000660": 200000}, {}, True),
        (AnyCond(items=(LOW, HYNIX)), {"005930": 70000, "000660": 200500}, {}, False),
        (
            AllCond(items=(AnyCond(items=(LOW, HIGH)), FILLED)),
            {"005930": 71500},
            {"entry": _st(10, 0)},
            True,
        ),
        (
            AllCond(items=(AnyCond(items=(LOW, HIGH)), FILLED)),
            {"005930": 70000},
            {"entry": _st(10, 0)},
            False,
        ),
    ],
)
def test_condition_table(cond, prices, fills, expected):
    assert holds(cond, prices, fills) is expected


@pytest.mark.parametrize(
    ("between", "day", "expected"),
    [
        (None, DAY, ("09:00", "15:30")),  # default: the regular session
        ((dt.time(9, 30), dt.time(10, 0)), DAY, ("09:30", "10:00")),
        (None, dt.date(2026, 11, 19), ("10:00", "16:30")),  # exam day: an hour late
        (None, dt.date(2027, 1, 4), ("10:00", "15:30")),  # first trading day of 2027
    ],
)
def test_window_table(between, day, expected):
    t = Trigger(id="t", when=LOW, action=Cancel(order="entry"), between=between)
    start, end = window(t, day)
    assert (f"{start:%H:%M}", f"{end:%H:%M}") == expected


SCENARIO = """
symbols:
  "005930": {price: 70000, walk: false, path: [["09:02", 68900], ["09:03", 70000],
                                               ["09:06", 68800]]}
"""


@pytest.mark.parametrize(
    ("between", "fired", "cancel_after"),
    [
        (None, True, "09:02"),  # the first dip, inside the session
        ((dt.time(9, 4), dt.time(9, 10)), True, "09:06"),  # only the second dip counts
        ((dt.time(9, 4), dt.time(9, 5)), False, None),  # no dip in the window
    ],
)
def test_between_window_end_to_end(tmp_path, between, fired, cancel_after):
    r = Rehearsal(tmp_path, scenario=SCENARIO, speed=120)
    entry = spec(price=68000)
    stop = Trigger(id="stop", when=LOW, action=Cancel(order="entry"), between=between)
    result = r.run(plan([entry], [job("entry.place", 0.1, Place(spec=entry))], triggers=(stop,)))
    cancels = [e for e in r.sim.log_snapshot() if e.api_id == "kt10003" and e.committed]
    assert len(cancels) == (1 if fired else 0)
    if fired:
        sent = cancels[0].at
        assert f"{sent:%H:%M}" >= cancel_after and sent < at(10)
        assert result.jobs == {"entry.place": "done"}
    else:
        assert r.sim.orders()["0000001"].remaining == 10
    assert result.exit_code == 0
