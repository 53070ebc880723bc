"""Simulator.price_history: every price a symbol took and when, from path points, walk
steps and set_price, oldest first, bounded in memory."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from planrunner.clock import ManualClock
from planrunner.sim import Simulator, parse_scenario
from planrunner.sim import market as sim_market
from tests.support.sim import at

PATH = """
symbols:
  "005930":
    base: 70000
    price: 70000
    walk: false
    path: [["09:01", 69500], ["+90s", 69000], ["09:02", 68900]]
"""


def test_path_points_and_set_price_in_time_order() -> None:
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    assert sim.price_history("005930") == [(at(9, 0), 70_000)]
    clock.set(at(9, 0, 30))
    sim.set_price("005930", 69_800)
    clock.set(at(9, 3))
    history = sim.price_history("005930")
    assert history == [
        (at(9, 0), 70_000),
        (at(9, 0, 30), 69_800),
        (at(9, 1), 69_500),
        (at(9, 1, 30), 69_000),
        (at(9, 2), 68_900),
    ]
    # Each entry is the price the symbol showed from that instant on.
    assert sim.quote("005930").price == history[-1][1]


def test_the_crossing_is_the_first_entry_where_a_condition_holds() -> None:
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    clock.set(at(9, 5))
    crossing = next(t for t, p in sim.price_history("005930") if p < 69_200)
    assert crossing == at(9, 1, 30)


def test_history_is_played_up_to_the_clock_without_a_request() -> None:
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    clock.set(at(9, 1, 45))
    assert sim.price_history("005930")[-1] == (at(9, 1, 30), 69_000)


def test_walk_steps_are_recorded_at_their_instants() -> None:
    text = 'walk_every: 1s\nsymbols: {"000660": {base: 180000, price: 180000}}'
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(text), seed=7, enforce_session=False)
    clock.set(at(9, 10))
    history = sim.price_history("000660")
    assert len(history) > 100  # about half the 600 steps move the price
    times = [t for t, _ in history]
    assert times == sorted(times)
    assert all(t.microsecond == 0 and at(9, 0) <= t <= at(9, 10) for t in times)
    # Only changes are kept: no two neighbours show the same price.
    assert all(a[1] != b[1] for a, b in itertools.pairwise(history))
    assert history[-1][1] == sim.quote("000660").price
    # Deterministic: the same seed and clock give the same history.
    clock.set(at(9, 0))
    again = Simulator(clock=clock, scenario=parse_scenario(text), seed=7, enforce_session=False)
    clock.set(at(9, 10))
    assert again.price_history("000660") == history


def test_set_price_is_clamped_and_repeats_are_not_entries() -> None:
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    clock.set(at(9, 0, 10))
    assert sim.set_price("005930", 1) == 49_000  # the lower daily limit
    clock.set(at(9, 0, 20))
    sim.set_price("005930", 49_000)
    assert sim.price_history("005930")[1:] == [(at(9, 0, 10), 49_000)]


def test_a_symbol_listed_by_set_price_starts_there() -> None:
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    assert sim.price_history("035720") == []  # never seen: not listed by asking
    clock.set(at(9, 0, 5))
    sim.set_price("035720", 50_000)
    assert sim.price_history("035720")[0] == (at(9, 0, 5), 50_000)


def test_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_market, "HISTORY_LIMIT", 5)
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=parse_scenario(PATH), enforce_session=False)
    for i in range(20):
        clock.advance(1)
        sim.set_price("005930", 70_000 + 100 * (i % 2))
    history = sim.price_history("005930")
    assert len(history) == 5
    assert history[-1] == (at(9, 0) + dt.timedelta(seconds=20), 70_100)
