"""The kind of each plan code (its tick grid) from the broker's ka10100 answer, asked once
per code and day, with the plan's `instrument:` as the override."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from planrunner.app.kinds import broker_kinds, cache_path
from planrunner.app.launch import RunOptions, run_plan
from planrunner.clock import SEOUL, ManualClock
from planrunner.errors import PlanError
from planrunner.kiwoom.client import KiwoomClient
from planrunner.plan.rules import load_plan
from planrunner.sim import Simulator, parse_scenario
from tests.support.loopback import FAKE_KEYS, SimProcess
from tests.support.sim import sim_client

SCENARIO = """\
codes: listed
symbols:
  "550002": {name: an ETF the table lacks, base: 10100, walk: false, kind: etf}
  "550003": {name: an ETN declared a stock, base: 10100, walk: false, kind: etn}
"""
# 10,005 and its +1 tick 10,010 are on the ETF grid (5 won), off the stock grid (10 won).
PLAN = """\
version: 1
name: {name}
orders:
  etf: {{symbol: "550002", side: buy, qty: 1, price: 10005, at: "+1s"}}
{extra}steps:
  - at: "+2s"
    modify: {{order: etf, price: +1 tick}}
  - at: "+3s"
    cancel: {{order: etf}}
"""
DAY = dt.date(2026, 11, 26)


@pytest.fixture
def client() -> Iterator[tuple[KiwoomClient, Simulator]]:
    clock = ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))
    sim = Simulator(clock=clock, scenario=parse_scenario(SCENARIO), seed=1)
    with sim_client(sim, clock) as c:
        yield c, sim


def _asked(sim: Simulator) -> list[str]:
    return [e.body["stk_cd"] for e in sim.log_snapshot() if e.api_id == "ka10100"]


def test_issue15_item1_validate_defers_then_the_brokers_kind_checks_the_grid(
    tmp_path: Path, client: tuple[KiwoomClient, Simulator]
) -> None:
    c, sim = client
    path = tmp_path / "p.yaml"
    extra = (
        '  etn: {symbol: "550003", side: buy, qty: 1, price: 10010, at: "+1s", '
        "instrument: stock}\n"
        '  odd: {symbol: "999999", side: buy, qty: 1, price: 10010, at: "+1s"}\n'
    )
    path.write_text(PLAN.format(name="kinds", extra=extra))
    with pytest.raises(PlanError, match="10005"):  # offline: checked as a stock
        load_plan(path)
    plan = load_plan(path, defer_unknown_kinds=True)
    kinds, notes = broker_kinds(c, plan, DAY, tmp_path, "sim")
    assert kinds == {"550002": "etf"}
    assert any(
        "550003: the plan declares `instrument: stock` but the broker lists it as etn" in n
        for n in notes
    ), notes
    assert any("999999: the broker does not list this code" in n for n in notes), notes
    checked = load_plan(path, kinds=kinds)
    assert checked.orders["etf"].instrument == "etf"
    assert checked.orders["etn"].instrument == "stock"  # the plan's word wins
    # Cached for the day: asked again, nothing goes to the broker but the unanswered code.
    cached = json.loads(cache_path(tmp_path, DAY, "sim").read_text())
    assert cached["550002"]["kind"] == "etf" and cached["550002"]["market_code"] == "8"
    assert sorted(_asked(sim)) == ["550002", "550003", "999999"]
    assert broker_kinds(c, plan, DAY, tmp_path, "sim")[0] == kinds
    assert sorted(_asked(sim)) == ["550002", "550003", "999999", "999999"]
    # Another day asks again.
    broker_kinds(c, plan, DAY + dt.timedelta(days=1), tmp_path, "sim")
    assert _asked(sim).count("550002") == 2


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FAKE_KEYS.items():
        monkeypatch.setenv(k, v)


def test_issue15_item1_run_checks_and_steps_on_the_brokers_grid(tmp_path: Path, keys: None) -> None:
    """A dry run against the simulator: the ETF the table lacks is placed at 10,005 and
    moved one 5-won tick, as the broker's ka10100 says; the plan never declared it."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    sim = SimProcess("--scenario", str(scenario))
    try:
        path = tmp_path / "p.yaml"
        path.write_text(PLAN.format(name="broker-kind", extra=""))
        opts = RunOptions(mode="dry-run", base_url=sim.url, state_dir=tmp_path / "state")
        events: list[str] = []
        result = run_plan(
            path, opts, emit=lambda e: events.append(e.message), stop=threading.Event()
        )
        assert result.exit_code == 0, events
        sent = [
            e["body"].get("ord_uv") or e["body"].get("mdfy_uv")
            for e in sim.order_requests()
            if e["api_id"] in ("kt10000", "kt10002")
        ]
        assert sent == ["10005", "10010"]
        assert not [m for m in events if "instrument" in m], events
        [cached] = (tmp_path / "state" / "instruments").glob("*.json")
        assert json.loads(cached.read_text())["550002"]["kind"] == "etf"
    finally:
        sim.close()


def test_issue15_item1_broker_failure_warns_and_asks_no_more(
    tmp_path: Path, client: tuple[KiwoomClient, Simulator]
) -> None:
    """The broker failing to answer is a warning per code, each checked on the grid it
    would have had offline; after the first failure nothing more is asked (bad keys or
    a dead network would fail every code alike), and nothing is cached."""
    c, sim = client
    sim.faults.add("5xx:api=ka10100,count=50")
    path = tmp_path / "p.yaml"
    extra = '  etf2: {symbol: "069500", side: buy, qty: 1, price: 10005, at: "+1s"}\n'
    path.write_text(PLAN.format(name="kinds-down", extra=extra))
    plan = load_plan(path, defer_unknown_kinds=True)
    kinds, notes = broker_kinds(c, plan, DAY, tmp_path, "sim")
    assert kinds == {}
    assert notes[0].startswith("069500: the broker did not say what instrument it is")
    assert notes[0].endswith("checked on the etf grid")  # the table's kind
    assert notes[1].startswith("550002: not asked (")
    assert notes[1].endswith("checked on the stock grid")
    assert set(_asked(sim)) == {"069500"}
    assert not cache_path(tmp_path, DAY, "sim").exists()
