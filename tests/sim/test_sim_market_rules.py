"""The simulator plays the market rules as data: instrument tick grids, Kiwoom's codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planrunner.clock import ManualClock
from planrunner.kiwoom import exceptions
from planrunner.kiwoom.client import KiwoomClient
from planrunner.sim import Simulator, parse_scenario

ETF = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
  "069500": {name: KODEX 200, base: 40000, walk: false}
  "550001": {name: some ETN, base: 10000, walk: false, kind: etn}
"""


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    return Simulator(clock=clock, scenario=parse_scenario(ETF), seed=1)


@pytest.fixture
def client(sim: Simulator, clock: ManualClock) -> Iterator[KiwoomClient]:
    with KiwoomClient(
        appkey="appkey-1",
        secretkey="secret-1",
        env="sim",
        transport=sim.transport(),
        clock=clock,
        sleep=lambda _: None,
    ) as c:
        yield c


def test_issue15_item1_sim_etf_and_etn_grid(client: KiwoomClient) -> None:
    # 40,005 is a valid ETF price (5-won ticks) and an off-grid stock price (50-won ticks)
    placed = client.place("069500", "buy", 1, 39_995, "limit")
    client.modify(placed.ord_no, "069500", 40_005)
    client.place("550001", "buy", 1, 9_995, "limit")  # declared an ETN by the scenario
    with pytest.raises(exceptions.Rejected):
        client.place("005930", "buy", 1, 69_950, "limit")  # a stock: 100-won ticks here
    with pytest.raises(exceptions.Rejected):
        client.place("069500", "buy", 1, 40_003, "limit")
