"""Observed market prices in the journal: on change, spaced, capped per symbol per day,
continued across a restart, and read back by the report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from planrunner.app.report import figures, render_html
from planrunner.clock import SEOUL, ManualClock
from planrunner.engine import prices as prices_module
from planrunner.engine.journal import Journal, replay
from planrunner.engine.prices import PriceLog

T0 = dt.datetime(2026, 3, 3, 9, 0, tzinfo=SEOUL)


def _price_records(path: Path) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "price"]


def test_issue17_item1_prices_recorded_on_change_and_spaced(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    clock = ManualClock(T0)
    with Journal(path) as journal:
        journal.open()
        log = PriceLog(journal, clock)
        assert log.observe("005930", 70000, source="poll")  # the first: always
        assert not log.observe("005930", 70000, source="poll")  # unchanged
        clock.set(T0 + dt.timedelta(milliseconds=400))
        assert not log.observe("005930", 70100, source="feed")  # a change within 1 s
        clock.set(T0 + dt.timedelta(seconds=1))
        assert log.observe("005930", 70100, source="feed")  # the level, once spaced
        assert log.observe("000660", 200000, source="check")  # each symbol on its own
        assert not log.observe("005930", 0, source="poll")  # no price is no observation
    recs = _price_records(path)
    assert [(r["symbol"], r["price"], r["source"]) for r in recs] == [
        ("005930", 70000, "poll"),
        ("005930", 70100, "feed"),
        ("000660", 200000, "check"),
    ]
    assert recs[1]["at"] == "2026-03-03T09:00:01.000+09:00"  # the plan's clock
    state = replay(path)  # a reader folds price records without complaint
    assert state.jobs == {} and len(state.records) == 3


def test_issue17_item1_prices_capped_per_symbol_per_day_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prices_module, "CAP_PER_DAY", 3)
    path = tmp_path / "j.jsonl"
    clock = ManualClock(T0)
    with Journal(path) as journal:
        journal.open()
        log = PriceLog(journal, clock)
        for i in range(2):
            clock.set(T0 + dt.timedelta(seconds=2 * i))
            assert log.observe("005930", 70000 + 100 * i, source="poll")
    # A restart of the same day: the count and the last price go on from the journal.
    with Journal(path) as journal:
        journal.open()
        log = PriceLog(journal, clock)
        clock.set(T0 + dt.timedelta(seconds=10))
        assert not log.observe("005930", 70100, source="poll")  # as recorded last
        assert log.observe("005930", 70200, source="poll")  # the third: the cap
        clock.set(T0 + dt.timedelta(seconds=20))
        assert not log.observe("005930", 70300, source="poll")  # capped for the day
        assert log.observe("000660", 200000, source="poll")  # another symbol is not
    recs = [r for r in _price_records(path) if r["symbol"] == "005930"]
    assert [r["price"] for r in recs] == [70000, 70100, 70200]
    assert recs[-1].get("capped") is True and "capped" not in recs[0]
    # The report draws the path and says where it stops.
    fig = figures(replay(path), day=dt.date(2026, 3, 3), rates=_rates())
    assert [o["price"] for o in fig["price_observations"]["005930"]] == [70000, 70100, 70200]
    assert any("005930: the price path stops at" in a for a in fig["attention"])
    page = render_html(fig)
    assert page.count('class="price"') == 2  # one path per symbol, each its own chart


def _rates():
    from planrunner.app.report import Rates

    return Rates(fee=0.00015, tax=0.002, source="test")
