"""Scenario files: the example under plans/scenarios/ loads and plays; mistakes are named."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from planrunner.clock import ManualClock
from planrunner.sim import ScenarioError, Simulator, load_scenario, parse_scenario
from tests.support.sim import at

EXAMPLE = Path(__file__).parents[2] / "plans" / "scenarios" / "samsung-dip.yaml"


def test_the_example_scenario_plays_its_path_and_partial_fills() -> None:
    scenario = load_scenario(EXAMPLE)
    assert sorted(scenario.symbols) == ["000660", "005930"]
    assert scenario.symbols["005930"].path[1].text == "09:05"
    clock = ManualClock(at(9, 0))
    sim = Simulator(clock=clock, scenario=scenario, enforce_session=False)
    assert sim.quote("005930").price == 70_000
    ord_no = sim.broker.place(_buy(qty=5, price=69_000), clock.now()).ord_no
    clock.set(at(9, 59))
    assert sim.quote("005930").price == 69_500
    clock.set(at(10, 0))
    assert (sim.quote("005930").price, sim.order(ord_no).filled) == (68_900, 3)
    assert sim.quote("000660").base == 180_000
    # Unlisted symbols walk from the default price, replayed from the clock start.
    assert sim.quote("035720").base == 50_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('symbols: {"005930": {path: [["9h", 70000]]}}', "bad time '9h'"),
        ('symbols: {"005930": {path: [["09:00", 0]]}}', "expected a positive integer"),
        ('symbols: {"005930": {base: 70000, fill: half}}', "expected full or"),
        ("walk_every: soon", "bad duration 'soon'"),
        ("- just a list", "expected a mapping at the top"),
        ("symbols: {a: [1", "<scenario>"),
    ],
)
def test_scenario_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text)


def test_a_missing_scenario_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.yaml")


def _buy(qty: int, price: int):
    from planrunner.sim.broker import NewOrder

    return NewOrder(symbol="005930", side="buy", trde_tp="0", exchange="KRX", qty=qty, price=price)


def test_issue16_scenario_start_is_a_clock_time() -> None:
    assert parse_scenario('start: "09:10"').start == dt.time(9, 10)
    assert parse_scenario("{}").start is None
    with pytest.raises(ScenarioError, match=r'start: expected a clock time "HH:MM\[:SS\]"'):
        parse_scenario('start: "+5m"')


# Issue 13: one YAML reader for plans and scenarios (planrunner/yamlfile.py), with the
# plan's bounds. Before, a scenario kept the last of two equal keys, read any SafeLoader
# tag, and read whatever the path gave (a FIFO waited for a writer).


def test_issue13_a_duplicate_key_in_a_scenario_is_refused_at_its_line_and_column() -> None:
    text = 'symbols:\n  "005930": {price: 70000}\n  "005930": {price: 50000}\n'
    with pytest.raises(ScenarioError, match=r"^s\.yaml:3:3: duplicate key '005930'"):
        parse_scenario(text, "s.yaml")


def test_issue13_a_tag_beyond_plain_data_in_a_scenario_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:1:7: the YAML tag !!binary is not part"):
        parse_scenario("blob: !!binary aGVsbG8=\n", "s.yaml")


def test_issue13_a_scenario_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    from planrunner.yamlfile import MAX_BYTES

    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"cannot read scenario .*not a scenario"):
        load_scenario(big)


@pytest.mark.timeout(60)
def test_issue13_a_fifo_given_as_scenario_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match=r"cannot read scenario .*not a regular file"):
        load_scenario(fifo)


@pytest.mark.parametrize(
    ("written", "walks"),
    [("no", False), ("off", False), ("false", False), ("yes", True), ("On", True)],
)
def test_issue13_yaml11_walk_words_keep_their_meaning(written: str, walks: bool) -> None:
    """The shared reader keeps `no`/`on` as text (a plan's `on` is not a boolean); a
    scenario's `walk: no` still stops the walk, as it did under YAML 1.1."""
    scenario = parse_scenario(f'symbols: {{"005930": {{price: 70000, walk: {written}}}}}')
    assert scenario.symbols["005930"].walk is walks


def test_issue13_an_empty_scenario_file_is_still_the_default_market(tmp_path: Path) -> None:
    for text in ("", "~\n", "---\n", "# nothing yet\n"):
        (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
        assert load_scenario(tmp_path / "s.yaml") == parse_scenario("{}")
