"""Order lineage, fills and business rejections, through raw HTTP on the httpx transport."""

from __future__ import annotations

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.sim import Simulator, parse_scenario
from tests.support.sim import STILL, Raw, at, msg_code

PARTIAL = """
symbols:
  "005930": {base: 70000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


def test_official_lineage_example_139_modify_140_cancel_141(clock: ManualClock) -> None:
    sim = Simulator(clock=clock, scenario=parse_scenario(STILL), first_ord_no=139)
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        placed = raw.buy(qty=1, price=69_000)
        assert placed == {
            "ord_no": "0000139",
            "dmst_stex_tp": "KRX",
            "return_code": 0,
            "return_msg": "매수주문이 완료되었습니다",
        }
        modified = raw.modify("0000139", qty="1", price="69100")
        assert modified["ord_no"] == "0000140"
        assert modified["base_orig_ord_no"] == "0000139"
        assert modified["mdfy_qty"] == "000000000001"
        assert modified["return_code"] == 0
        cancelled = raw.cancel("0000140", qty="1")
        assert cancelled["ord_no"] == "0000141"
        assert cancelled["base_orig_ord_no"] == "0000139"
        assert cancelled["cncl_qty"] == "000000000001"
    book = sim.orders()
    assert [(o.ord_no, o.kind, o.state, o.orig_ord_no) for o in book.values()] == [
        ("0000139", "order", "modified", None),
        ("0000140", "modify", "cancelled", "0000139"),
        ("0000141", "cancel", "confirmed", "0000140"),
    ]
    assert book["0000140"].price == 69_100


def test_modify_and_cancel_of_a_filled_order_are_rejected_as_already_filled(
    sim: Simulator, raw: Raw
) -> None:
    ord_no = raw.buy(qty=10, price=69_500)["ord_no"]
    sim.set_price("005930", 69_400)
    assert sim.order(ord_no).state == "filled"
    for answer in (raw.modify(ord_no), raw.cancel(ord_no)):
        assert answer["return_code"] != 0
        assert msg_code(answer) == 2101
        assert "이미 체결된 주문" in answer["return_msg"]
    unknown = raw.cancel("0999999")
    assert msg_code(unknown) == 2100
    assert "존재하지 않습니다" in unknown["return_msg"]
    assert len(sim.orders()) == 1


def test_cancel_of_a_partially_filled_order_cancels_only_the_rest(clock: ManualClock) -> None:
    sim = Simulator(clock=clock, scenario=parse_scenario(PARTIAL))
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        ord_no = raw.buy(qty=10, price=69_500)["ord_no"]
        sim.set_price("005930", 69_500)  # one crossing: at most 3 shares
        assert sim.order(ord_no).filled == 3
        answer = raw.cancel(ord_no, qty="0")
        assert answer["return_code"] == 0
        assert answer["cncl_qty"] == "000000000007"
    order = sim.order(ord_no)
    assert (order.filled, order.cancelled, order.remaining, order.state) == (3, 7, 0, "cancelled")
    assert order.fills[0].price == 69_500


def test_a_partial_cancel_leaves_the_rest_open_under_the_original_number(
    sim: Simulator, raw: Raw
) -> None:
    ord_no = raw.buy(qty=10, price=69_000)["ord_no"]
    answer = raw.cancel(ord_no, qty="4")
    assert answer["cncl_qty"] == "000000000004"
    open_orders = raw.call("ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})
    assert [(o["ord_no"], o["oso_qty"]) for o in open_orders["oso"]] == [(ord_no, "6")]
    assert sim.order(answer["ord_no"]).state == "confirmed"


def test_a_partial_modify_moves_only_that_qty_to_the_new_number(sim: Simulator, raw: Raw) -> None:
    ord_no = raw.buy(qty=10, price=69_000)["ord_no"]
    new = raw.modify(ord_no, qty="4", price="69100")["ord_no"]
    assert (sim.order(ord_no).remaining, sim.order(new).remaining) == (6, 4)
    assert sim.order(new).price == 69_100


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("modified", 2103),
        ("cancelled", 2102),
    ],
)
def test_modify_of_a_superseded_or_cancelled_number_is_rejected(
    sim: Simulator, raw: Raw, setup: str, code: int
) -> None:
    ord_no = raw.buy(qty=10, price=69_000)["ord_no"]
    if setup == "modified":
        raw.modify(ord_no)
    else:
        raw.cancel(ord_no)
    answer = raw.modify(ord_no)
    assert msg_code(answer) == code
    assert answer["return_code"] == 20


def test_cancel_more_than_remains_and_another_symbol_are_rejected(raw: Raw) -> None:
    ord_no = raw.buy(qty=10, price=69_000)["ord_no"]
    assert msg_code(raw.cancel(ord_no, qty="11")) == 2104
    other = {"dmst_stex_tp": "KRX", "orig_ord_no": ord_no, "stk_cd": "000660", "cncl_qty": "0"}
    assert msg_code(raw.call("kt10003", other)) == 2105


def test_prices_off_the_tick_grid_or_outside_daily_limits_are_rejected(raw: Raw) -> None:
    assert msg_code(raw.buy(price=70_050)) == 2106
    assert msg_code(raw.buy(price=91_100)) == 2107  # upper limit is 91,000
    assert msg_code(raw.buy(price=48_900)) == 2107  # lower limit is 49,000
    assert raw.buy(price=91_000)["return_code"] == 0


def test_session_hours_by_order_type(sim: Simulator, raw: Raw, clock: ManualClock) -> None:
    clock.set(at(8, 10))
    closed = raw.buy(price=69_000)
    assert msg_code(closed) == 2108
    assert "주문 가능 시간이 아닙니다" in closed["return_msg"]
    clock.set(at(8, 35))  # pre-open auction: limit yes, best (최유리) no
    assert raw.buy(price=69_000)["return_code"] == 0
    assert msg_code(raw.buy(price=None, trde_tp="6")) == 2108
    clock.set(at(15, 45))  # post-close after-hours (81) only
    assert msg_code(raw.buy(price=69_000)) == 2108
    assert raw.buy(price=None, trde_tp="81")["return_code"] == 0


def test_market_orders_fill_at_once_at_the_current_price(sim: Simulator, raw: Raw) -> None:
    sim.set_price("005930", 69_800)
    ord_no = raw.sell(qty=5, price=None, trde_tp="3")["ord_no"]
    order = sim.order(ord_no)
    assert (order.state, order.filled, order.avg_fill_price) == ("filled", 5, 69_800)


def test_stop_limit_waits_for_its_stop_price(sim: Simulator, raw: Raw) -> None:
    ord_no = raw.buy(qty=2, price=71_000, trde_tp="28", cond_uv="70500")["ord_no"]
    assert sim.order(ord_no).filled == 0  # 70,000 is below the limit but the stop is not hit
    sim.set_price("005930", 70_500)
    assert sim.order(ord_no).filled == 2
    assert msg_code(raw.buy(price=71_000, trde_tp="28")) == 1511


def test_ioc_keeps_what_fills_and_fok_fills_all_or_nothing(clock: ManualClock) -> None:
    sim = Simulator(clock=clock, scenario=parse_scenario(PARTIAL))
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        ioc = sim.order(raw.buy(qty=10, price=70_000, trde_tp="10")["ord_no"])
        fok = sim.order(raw.buy(qty=10, price=70_000, trde_tp="20")["ord_no"])
    assert (ioc.filled, ioc.cancelled, ioc.state) == (3, 7, "cancelled")
    assert (fok.filled, fok.cancelled, fok.state) == (0, 10, "cancelled")


def test_quote_prices_are_signed_against_the_base_price(sim: Simulator, raw: Raw) -> None:
    sim.set_price("005930", 69_500)
    q = raw.call("ka10001", {"stk_cd": "005930"})
    assert (q["cur_prc"], q["base_pric"], q["upl_pric"], q["lst_pric"]) == (
        "-69500",
        "70000",
        "+91000",
        "-49000",
    )
    assert (q["pred_pre"], q["flu_rt"], q["stk_nm"]) == ("-500", "-0.71", "삼성전자")


def test_open_orders_and_fills_page_with_cont_yn_and_next_key(clock: ManualClock) -> None:
    sim = Simulator(clock=clock, scenario=parse_scenario(STILL), page_size=2)
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        numbers = [raw.buy(qty=1, price=69_000)["ord_no"] for _ in range(5)]
        body = {"all_stk_tp": "0", "trde_tp": "2", "stex_tp": "0"}
        seen: list[str] = []
        headers: dict[str, str] = {}
        for _ in range(5):
            resp = raw.post("ka10075", body, headers=headers)
            seen += [o["ord_no"] for o in resp.json()["oso"]]
            if resp.headers["cont-yn"] != "Y":
                break
            headers = {"cont-yn": "Y", "next-key": resp.headers["next-key"]}
        assert seen == sorted(numbers, reverse=True)
        sim.set_price("005930", 69_000)
        fills = raw.call("ka10076", {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0"})
        assert [(f["ord_no"], f["cntr_qty"], f["cntr_pric"]) for f in fills["cntr"]] == [
            (numbers[4], "1", "69000"),
            (numbers[3], "1", "69000"),
        ]


def test_a_scenario_path_fills_as_the_clock_reaches_its_points(clock: ManualClock) -> None:
    scenario = parse_scenario(
        """
symbols:
  "005930":
    base: 70000
    path: [["09:00", 70000], ["09:40", 69600], ["+20m", 69400]]
"""
    )
    sim = Simulator(clock=clock, scenario=scenario)
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        ord_no = raw.buy(qty=5, price=69_500)["ord_no"]
        clock.set(at(9, 45))
        assert sim.order(ord_no).filled == 0
        clock.set(at(9, 50))  # +20m from the clock's start at 09:30
        assert sim.order(ord_no).fills[0].price == 69_500
        assert raw.call("ka10001", {"stk_cd": "005930"})["cur_prc"] == "-69400"


def test_the_random_walk_is_the_same_for_the_same_seed(clock: ManualClock) -> None:
    def prices(seed: int) -> list[int]:
        c = ManualClock(clock.now())
        sim = Simulator(clock=c, seed=seed, default_price=50_000)
        out = []
        for _ in range(20):
            c.advance(60)
            out.append(sim.quote("035420").price)
        return out

    assert prices(7) == prices(7)
    assert prices(7) != prices(8)
    assert all(p % 50 == 0 and 35_000 <= p <= 65_000 for p in prices(7))


def test_the_counter_jumps_forward_only(sim: Simulator, raw: Raw) -> None:
    sim.set_next_ord_no(500)
    assert raw.buy(price=69_000)["ord_no"] == "0000500"
    with pytest.raises(ValueError, match="0000500 is already used"):
        sim.set_next_ord_no(500)
    assert raw.buy(price=69_000)["ord_no"] == "0000501"
