"""Acceptance (issue 4, client side): the real client against the real simulator.

The simulator's request log is the truth about what was sent; `sim.orders()` is the
truth about what the broker holds.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from planrunner.clock import SEOUL, ManualClock
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.model import WireRequest
from planrunner.sim import Simulator, parse_scenario
from tests.support.fake_broker import APPKEY, SECRETKEY
from tests.support.sim import sim_client

SCENARIO = """
symbols:
  "005930": {base: 70000, path: [["09:00", 70000]], walk: false}
  "000660":
    {base: 150000, path: [["09:00", 150000]], walk: false, fill: {mode: partial, max_qty: 3}}
"""


@pytest.fixture
def sim_clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))


@pytest.fixture
def sim(sim_clock: ManualClock) -> Simulator:
    return Simulator(clock=sim_clock, scenario=parse_scenario(SCENARIO), first_ord_no=139)


@pytest.fixture
def kc(sim: Simulator, sim_clock: ManualClock) -> Iterator[KiwoomClient]:
    keys = {"appkey": APPKEY, "secretkey": SECRETKEY, "rate_limits": RateLimits()}
    with sim_client(sim, sim_clock, env="mock", base_url="http://sim.test", **keys) as c:
        yield c


def calls(sim: Simulator, api_id: str) -> list[tuple[int, int | None]]:
    """(HTTP status, [code]) of every logged call of one api-id."""
    return [(x.status, x.code) for x in sim.log_snapshot() if x.api_id == api_id]


def test_the_official_lineage(kc: KiwoomClient, sim: Simulator) -> None:
    placed = kc.place("005930", "buy", 10, 69000, "limit")
    modified = kc.modify(placed.ord_no, "005930", 69500)
    cancelled = kc.cancel(modified.ord_no, "005930")
    assert placed.ord_no == "0000139"
    assert (modified.ord_no, modified.base_orig_ord_no, modified.qty) == ("0000140", "0000139", 10)
    assert (cancelled.ord_no, cancelled.base_orig_ord_no, cancelled.qty) == (
        "0000141",
        "0000139",
        10,
    )
    book = sim.orders()
    assert (book["0000139"].state, book["0000140"].state) == ("modified", "cancelled")
    assert kc.open_orders() == []


def test_modify_or_cancel_of_a_filled_order_is_rejected_as_already_filled(
    kc: KiwoomClient, sim: Simulator
) -> None:
    placed = kc.place("005930", "buy", 10, 70000, "limit")  # marketable: fills at once
    assert sim.order(placed.ord_no).state == "filled"
    for attempt in (
        lambda: kc.modify(placed.ord_no, "005930", 70100),
        lambda: kc.cancel(placed.ord_no, "005930"),
    ):
        with pytest.raises(e.AlreadyFilled) as info:
            attempt()
        assert info.value.reason == "already-filled"
        assert "체결" in info.value.broker_message
    assert calls(sim, "kt10002") == [(200, 2101)] and calls(sim, "kt10003") == [(200, 2101)]


def test_a_superseded_number_is_no_such_order(kc: KiwoomClient) -> None:
    placed = kc.place("005930", "buy", 10, 69000, "limit")
    kc.modify(placed.ord_no, "005930", 69500)
    with pytest.raises(e.NoSuchOrder):
        kc.cancel(placed.ord_no, "005930")


def test_cancel_of_a_partially_filled_order_cancels_only_the_rest(
    kc: KiwoomClient, sim: Simulator
) -> None:
    placed = kc.place("000660", "buy", 10, 149900, "limit")
    sim.set_price("000660", 149900)  # crosses: at most 3 fill
    (row,) = kc.open_orders(symbol="000660")
    assert (row.ord_no, row.filled_qty, row.open_qty, row.side) == (placed.ord_no, 3, 7, "buy")
    ack = kc.cancel(placed.ord_no, "000660")
    assert ack.qty == 7
    view = sim.order(placed.ord_no)
    assert (view.filled, view.cancelled, view.remaining) == (3, 7, 0)
    (fill,) = kc.fills(symbol="000660")
    assert (fill.ord_no, fill.filled_qty, fill.fill_price) == (placed.ord_no, 3, 149900)


def test_quote_reads_absolute_prices_and_limits(kc: KiwoomClient, sim: Simulator) -> None:
    sim.set_price("005930", 69000)  # below base: the broker signs it "-69000"
    q = kc.quote("005930")
    assert (q.price, q.base_price, q.upper_limit, q.lower_limit) == (69000, 70000, 91000, 49000)


def test_price_rejections_are_classified(kc: KiwoomClient) -> None:
    with pytest.raises(e.PriceOutOfRange):
        kc.place("005930", "buy", 1, 70010, "limit")  # off the tick grid
    with pytest.raises(e.PriceOutOfRange):
        kc.place("005930", "buy", 1, 95000, "limit")  # above the upper limit


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"dmst_stex_tp": "KRX", "ord_qty": "1", "ord_uv": "", "trde_tp": "3"}, 1511),
        ({"dmst_stex_tp": "KRX", "stk_cd": "005930", "ord_qty": "x", "ord_uv": "",
          "trde_tp": "3", "cond_uv": ""}, 1517),
    ],
)  # fmt: skip
def test_strict_validation_answers_are_bad_field(
    kc: KiwoomClient, sim: Simulator, body: dict[str, str], code: int
) -> None:
    with pytest.raises(e.BadField) as info:
        kc._call(WireRequest(api_id="kt10000", body=body))
    assert info.value.code == str(code)
    assert sim.orders() == {}


def test_the_token_is_renewed_before_expiry(
    kc: KiwoomClient, sim: Simulator, sim_clock: ManualClock
) -> None:
    kc.quote("005930")
    sim_clock.advance(dt.timedelta(hours=23, minutes=55).total_seconds())
    kc.quote("005930")
    assert sim.auth.issued == 2
    assert all(code != 8005 for _, code in calls(sim, "ka10001"))


def test_a_refused_token_is_refreshed_once_and_the_order_resent_once(
    kc: KiwoomClient, sim: Simulator
) -> None:
    kc.token()
    sim.expire_tokens()
    ack = kc.place("005930", "buy", 10, 69000, "limit")
    assert calls(sim, "au10001") == [(200, None), (200, None)]  # the first and one refresh
    assert calls(sim, "kt10000") == [(200, 8005), (200, None)]
    assert list(sim.orders()) == [ack.ord_no]


def test_rate_limit_answers_are_retried_and_place_exactly_one_order(
    kc: KiwoomClient, sim: Simulator
) -> None:
    sim.faults.rate_limit("kt10000", count=2)
    sim.faults.rate_limit("ka10075", count=1, status=200)
    ack = kc.place("005930", "buy", 10, 69000, "limit")
    assert calls(sim, "kt10000") == [(429, 1700), (429, 1700), (200, None)]
    assert list(sim.orders()) == [ack.ord_no]
    assert [o.ord_no for o in kc.open_orders()] == [ack.ord_no]
    assert calls(sim, "ka10075") == [(200, 1700), (200, None)]


@pytest.mark.parametrize("status", [500, 200], ids=["5xx", "1999"])
def test_server_errors_on_orders_are_not_retried(
    kc: KiwoomClient, sim: Simulator, status: int
) -> None:
    sim.faults.error("kt10000", status=status, commit=True)
    with pytest.raises(e.UnknownOutcome) as info:
        kc.place("005930", "buy", 10, 69000, "limit")
    assert info.value.code in ("1999", "500")
    assert len(calls(sim, "kt10000")) == 1
    assert len(sim.orders()) == 1  # it was committed: a resend would have made two


def test_commit_then_drop_is_an_unknown_outcome_and_one_order(
    kc: KiwoomClient, sim: Simulator
) -> None:
    sim.faults.drop("kt10000")
    with pytest.raises(e.UnknownOutcome) as info:
        kc.place("005930", "buy", 10, 69000, "limit")
    assert info.value.request.body["ord_qty"] == "10"
    assert len(calls(sim, "kt10000")) == 1
    (held,) = sim.orders().values()
    assert [o.ord_no for o in kc.open_orders(symbol="005930")] == [held.ord_no]  # reconcilable


def test_mixing_mock_and_live_is_an_environment_mismatch(kc: KiwoomClient, sim: Simulator) -> None:
    sim.register_key(APPKEY, SECRETKEY, env="live")
    with pytest.raises(e.EnvironmentMismatch) as info:
        kc.quote("005930")
    assert (info.value.api_id, info.value.code) == ("au10001", "8030")
    assert calls(sim, "au10001") == [(200, 8030)]


def test_a_token_of_the_other_environment_is_not_retried(kc: KiwoomClient, sim: Simulator) -> None:
    sim.register_token(kc.token().value, env="live")
    with pytest.raises(e.EnvironmentMismatch):
        kc.quote("005930")
    assert calls(sim, "ka10001") == [(200, 8031)]


def test_revoke_reaches_the_simulator(kc: KiwoomClient, sim: Simulator) -> None:
    kc.token()
    kc.revoke()
    assert calls(sim, "au10002") == [(200, None)]
    kc.quote("005930")  # a new token is issued on demand
    assert sim.auth.issued == 2
    sim.expire_tokens()
    kc.revoke()  # revoking a token that is already dead is not an error
    assert calls(sim, "au10002")[-1] == (200, 8005)


def test_over_loopback_the_lineage_holds_and_a_drop_is_unknown(
    sim: Simulator, sim_clock: ManualClock
) -> None:
    server = sim.serve(port=0)
    try:
        with KiwoomClient(
            appkey=APPKEY, secretkey=SECRETKEY, env="mock", base_url=server.url,
            clock=sim_clock, rate_limits=RateLimits(), sleep=lambda s: None,
        ) as kc:  # fmt: skip
            placed = kc.place("005930", "buy", 10, 69000, "limit")
            modified = kc.modify(placed.ord_no, "005930", 69500)
            cancelled = kc.cancel(modified.ord_no, "005930")
            assert [placed.ord_no, modified.ord_no, cancelled.ord_no] == [
                "0000139",
                "0000140",
                "0000141",
            ]
            sim.faults.drop("kt10001")
            with pytest.raises(e.UnknownOutcome):
                kc.place("005930", "sell", 1, 71000, "limit")
            assert len(calls(sim, "kt10001")) == 1
            assert sim.orders()["0000142"].side == "sell"
    finally:
        server.close()


def test_one_client_serves_many_threads(kc: KiwoomClient, sim: Simulator) -> None:
    acks: list[str] = []

    def work() -> None:
        for _ in range(5):
            placed = kc.place("005930", "buy", 1, 69000, "limit")
            acks.append(kc.cancel(placed.ord_no, "005930").base_orig_ord_no)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(acks) == len(set(acks)) == 40
    assert sim.auth.issued == 1  # one token, shared
    assert kc.open_orders() == []
