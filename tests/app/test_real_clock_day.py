"""Which day a run on a real clock belongs to (--dry-run, --live, cancel-all).

Found by CI's run with the clock moved to a Saturday: a plan with times relative to the
run start was given Monday's journal, then refused because its times happen today.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.app.identity import real_clock_day
from planrunner.clock import SEOUL
from planrunner.plan.rules import load_plan

SATURDAY = dt.datetime(2026, 12, 5, 10, 0, tzinfo=SEOUL)
MONDAY = dt.date(2026, 12, 7)

RELATIVE = """\
version: 1
name: relative
orders:
  entry: {symbol: "005930", side: buy, qty: 1, price: 70000, at: "+1s"}
"""
CLOCK = RELATIVE.replace('"+1s"', '"09:30"').replace("relative", "clock")


def _plan(tmp_path: Path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return load_plan(path)


def test_relative_times_run_today_even_on_a_closed_day(tmp_path: Path) -> None:
    assert real_clock_day(_plan(tmp_path, RELATIVE), None, SATURDAY) == SATURDAY.date()


def test_clock_times_run_on_the_next_trading_day(tmp_path: Path) -> None:
    assert real_clock_day(_plan(tmp_path, CLOCK), None, SATURDAY) == MONDAY


def test_a_given_date_wins(tmp_path: Path) -> None:
    given = dt.date(2026, 12, 8)
    assert real_clock_day(_plan(tmp_path, RELATIVE), given, SATURDAY) == given
