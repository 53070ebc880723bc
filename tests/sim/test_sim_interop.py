"""Interoperability: an independent Kiwoom client from the package index (`kiwoom-client`
0.4.0, in the `test` extra) talks to the loopback simulator as if it were Kiwoom.

kiwoom-client posts its keyword arguments as the body, sends `api-id`, `cont-yn`,
`next-key` and `authorization: Bearer` headers, sends no api-id on /oauth2/token, and
treats any `return_code` other than the integer 0 as an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from kiwoom_client import KiwoomAPI, KiwoomAPIError

from planrunner.clock import ManualClock
from planrunner.sim import Simulator, default_start, parse_scenario
from tests.support.sim import STILL


@pytest.fixture
def sim() -> Simulator:
    # kiwoom-client checks a token's expires_dt against the real clock, so the simulator's
    # clock (which dates the tokens it issues) follows today, not a fixed day.
    clock = ManualClock(default_start() + dt.timedelta(minutes=30))
    return Simulator(clock=clock, scenario=parse_scenario(STILL), first_ord_no=139)


@pytest.fixture
def api(sim: Simulator) -> Iterator[KiwoomAPI]:
    with sim.serve(port=0) as server:
        client = KiwoomAPI("interop-appkey", "interop-secret", base_url=server.url, rate_limit=None)
        try:
            yield client
        finally:
            client.close()


def test_kiwoom_client_places_modifies_and_cancels_with_the_official_lineage(
    sim: Simulator, api: KiwoomAPI
) -> None:
    token = api.login()
    assert token["token_type"] == "bearer" and len(token["expires_dt"]) == 14
    placed = api.order.buy_order(
        dmst_stex_tp="KRX", stk_cd="005930", ord_qty="1", ord_uv="69000", trde_tp="0", cond_uv=""
    )
    assert placed["ord_no"] == "0000139"
    modified = api.order.modify_order(
        dmst_stex_tp="KRX",
        orig_ord_no=placed["ord_no"],
        stk_cd="005930",
        mdfy_qty="1",
        mdfy_uv="69100",
        mdfy_cond_uv="",
    )
    assert (modified["ord_no"], modified["base_orig_ord_no"]) == ("0000140", "0000139")
    assert modified["mdfy_qty"] == "000000000001"
    unfilled = api.account.unfilled_orders(all_stk_tp="0", trde_tp="0", stk_cd="", stex_tp="0")
    assert [(o["ord_no"], o["orig_ord_no"], o["ord_pric"]) for o in unfilled["oso"]] == [
        ("0000140", "0000139", "69100")
    ]
    cancelled = api.order.cancel_order(
        dmst_stex_tp="KRX", orig_ord_no=modified["ord_no"], stk_cd="005930", cncl_qty="0"
    )
    assert (cancelled["ord_no"], cancelled["base_orig_ord_no"]) == ("0000141", "0000139")
    assert cancelled["cncl_qty"] == "000000000001"
    assert api.account.unfilled_orders(all_stk_tp="0", trde_tp="0", stex_tp="0")["oso"] == []
    assert [(e.api_id, e.ord_no) for e in sim.log] == [
        ("au10001", None),
        ("kt10000", "0000139"),
        ("kt10002", "0000140"),
        ("ka10075", None),
        ("kt10003", "0000141"),
        ("ka10075", None),
    ]


def test_kiwoom_client_sees_rejections_as_errors(sim: Simulator, api: KiwoomAPI) -> None:
    api.login()
    placed = api.order.buy_order(
        dmst_stex_tp="KRX", stk_cd="005930", ord_qty="2", ord_uv="70000", trde_tp="0"
    )
    assert sim.order(placed["ord_no"]).state == "filled"
    with pytest.raises(KiwoomAPIError) as filled:
        api.order.cancel_order(
            dmst_stex_tp="KRX", orig_ord_no=placed["ord_no"], stk_cd="005930", cncl_qty="0"
        )
    assert "[2101:이미 체결된 주문입니다" in filled.value.message
    with pytest.raises(KiwoomAPIError) as typed:
        api.order.buy_order(dmst_stex_tp="KRX", stk_cd="005930", ord_qty=1, trde_tp="3")
    assert typed.value.message == "[1517:입력 값 형식이 올바르지 않습니다(ord_qty)]"
    quote = api.stock_info.basic_stock_info(stk_cd="005930")
    assert quote["cur_prc"] == "70000"
