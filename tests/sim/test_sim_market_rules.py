"""The simulator plays the market rules as data: instrument tick grids, Kiwoom's codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.kiwoom import exceptions
from planrunner.kiwoom.client import KiwoomClient
from planrunner.sim import Simulator, parse_scenario
from tests.support.sim import sim_client

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
    with sim_client(sim, clock) as c:
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


def test_issue15_item3_sim_refuses_62_outside_the_10pct_band(
    sim: Simulator, clock: ManualClock, client: KiwoomClient
) -> None:
    clock.set(clock.now().replace(hour=16, minute=30))
    # 005930 closed at 70,000: the single-price band is 63,000-77,000
    client.place("005930", "buy", 1, 77_000, "after_hours_single")
    client.place("005930", "sell", 1, 63_000, "after_hours_single")
    with pytest.raises(exceptions.PriceOutOfRange) as info:
        client.place("005930", "buy", 1, 77_100, "after_hours_single")
    assert "63000~77000" in info.value.broker_message
    with pytest.raises(exceptions.PriceOutOfRange):
        client.place("005930", "sell", 1, 62_900, "after_hours_single")
    # a regular order in the day's session may still use the ±30% limits
    clock.set(clock.now().replace(hour=10, minute=0) + dt.timedelta(days=1))
    client.place("005930", "buy", 1, 90_000, "limit")


def test_issue15_item4_open_orders_answer_stex_tp_as_kiwoom_codes(
    sim: Simulator, client: KiwoomClient
) -> None:
    client.place("005930", "buy", 1, 69_000, "limit")
    with httpx.Client(transport=sim.transport(), base_url="https://mockapi.kiwoom.com") as raw:
        token = raw.post(
            "/oauth2/token",
            json={"grant_type": "client_credentials", "appkey": "a", "secretkey": "b"},
        ).json()["token"]
        body = {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"}
        headers = {"api-id": "ka10075", "authorization": f"Bearer {token}"}
        (row,) = raw.post("/api/dostk/acnt", json=body, headers=headers).json()["oso"]
    assert (row["stex_tp"], row["stex_tp_txt"]) == ("1", "KRX")
    (mine,) = client.open_orders()
    assert mine.exchange == "KRX"  # our client reads the code and its text


LISTED = """
codes: listed
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
"""


@pytest.fixture
def listed(clock: ManualClock) -> Iterator[KiwoomClient]:
    sim = Simulator(clock=clock, scenario=parse_scenario(LISTED), seed=1)
    with sim_client(sim, clock) as c:
        yield c


def test_issue15_item4_unknown_codes_refused_and_table_prices(listed: KiwoomClient) -> None:
    with pytest.raises(exceptions.UnknownSymbol) as info:
        listed.place("999999", "buy", 1, 10_000, "limit")
    assert info.value.code == "1902"
    with pytest.raises(exceptions.UnknownSymbol):
        listed.quote("999999")
    # SK hynix is not in the scenario: the built-in table prices it, so a realistic bid
    # is inside its daily limits (it was refused when every code started at 70,000)
    q = listed.quote("000660")
    assert q.base_price == 550_000
    listed.place("000660", "buy", 1, 560_000, "limit")


def _client(clock: ManualClock, scenario: str | None) -> KiwoomClient:
    sim = Simulator(clock=clock, scenario=parse_scenario(scenario) if scenario else None)
    return sim_client(sim, clock)


def test_issue15_item4_unknown_codes_refused_by_default(clock: ManualClock) -> None:
    """No scenario, or one that does not say: Kiwoom's refusal (1902) of a code it does
    not list; the table's codes trade at the table's price."""
    for scenario in (None, ETF):
        with _client(clock, scenario) as c:
            with pytest.raises(exceptions.UnknownSymbol) as info:
                c.place("999999", "buy", 1, 70_000, "limit")
            assert info.value.code == "1902"
            with pytest.raises(exceptions.UnknownSymbol):
                c.stock_info("999999")
            assert c.quote("000660").base_price == 550_000
            c.place("000660", "buy", 1, 560_000, "limit")


def test_issue15_item4_open_codes_keep_every_code_trading(clock: ManualClock) -> None:
    """`codes: open` is the explicit opt-out: any code, all at the default price."""
    with _client(clock, "codes: open\n") as c:
        c.place("999999", "buy", 1, 70_000, "limit")
        assert c.quote("000660").base_price == 70_000


ACCOUNT = """
account: {cash: 1000000, holdings: {"005930": 10}}
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
"""


@pytest.fixture
def funded(clock: ManualClock) -> Iterator[tuple[Simulator, KiwoomClient]]:
    sim = Simulator(clock=clock, scenario=parse_scenario(ACCOUNT), seed=1)
    with sim_client(sim, clock) as c:
        yield sim, c


def test_issue15_item4_sell_over_holdings_and_buy_over_cash_refused(
    funded: tuple[Simulator, KiwoomClient],
) -> None:
    sim, client = funded
    client.place("005930", "sell", 6, 71_000, "limit")  # rests: 6 of 10 reserved
    with pytest.raises(exceptions.Rejected) as info:
        client.place("005930", "sell", 5, 71_000, "limit")
    assert "매도가능수량(4)을 초과하였습니다" in info.value.broker_message
    client.place("005930", "sell", 4, 71_000, "limit")
    # cash 1,000,000: 14 x 69,000 = 966,000 fits, one more share does not
    client.place("005930", "buy", 14, 69_000, "limit")
    with pytest.raises(exceptions.Rejected) as info:
        client.place("005930", "buy", 1, 69_000, "limit")
    assert "주문가능금액(34000원)이 부족합니다" in info.value.broker_message
    sim.set_price("005930", 71_000)  # the 10 shares sell: 710,000 more cash
    client.place("005930", "buy", 10, 69_000, "limit")


def test_issue15_item1_ka10100_names_each_codes_market(
    client: KiwoomClient, listed: KiwoomClient
) -> None:
    """The simulator answers ka10100 (종목정보 조회) with Kiwoom's market codes for its
    kinds, and the client reads the kind from them."""
    from planrunner.krx.instruments import kind_from_market

    got = {code: client.stock_info(code) for code in ("005930", "069500", "550001", "114800")}
    assert {c: (i.market_code, i.market_name) for c, i in got.items()} == {
        "005930": ("0", "거래소"),
        "069500": ("8", "ETF"),  # the scenario says nothing: the built-in table's kind
        "550001": ("60", "ETN"),  # the scenario's `kind: etn`
        "114800": ("8", "ETF"),  # not in the scenario, in the table
    }
    assert {c: kind_from_market(i.market_code, i.market_name) for c, i in got.items()} == {
        "005930": "stock",
        "069500": "etf",
        "550001": "etn",
        "114800": "etf",
    }
    assert got["005930"].name == "삼성전자"
    with pytest.raises(exceptions.UnknownSymbol):
        listed.stock_info("999999")  # refused as Kiwoom refuses a code it does not list


@pytest.mark.parametrize(
    ("code", "name", "kind"),
    [
        ("0", "거래소", "stock"),
        ("10", "코스닥", "stock"),
        ("50", "코넥스", "stock"),
        ("6", "리츠", "stock"),
        ("8", "ETF", "etf"),
        ("60", "ETN", "etn"),
        ("", "손실제한ETN", "etn"),
        ("3", "ELW", None),
        ("5", "신주인수권", None),
    ],
)
def test_issue15_item1_market_code_to_kind(code: str, name: str, kind: str | None) -> None:
    from planrunner.krx.instruments import kind_from_market

    assert kind_from_market(code, name) == kind
