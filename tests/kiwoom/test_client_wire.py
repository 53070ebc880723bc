"""What the client puts on the wire and what it makes of the answers (scripted broker)."""

from __future__ import annotations

import json

import httpx
import pytest

from planrunner.errors import UsageError
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom import wire
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.types import CancelAck, Fill, ModifyAck, OpenOrder, PlaceAck, Quote
from tests.support.fake_broker import OK, FakeKiwoom, official_error


def test_place_sends_the_documented_headers_and_string_body(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script("kt10000", {"ord_no": "0000139", "dmst_stex_tp": "KRX", **OK})
    ack = client.place("005930", "buy", 10, 70000, "limit")
    assert ack == PlaceAck(ord_no="0000139", exchange="KRX")
    token_call, sent = broker.sent
    assert token_call.path == "/oauth2/token"
    assert token_call.body == {
        "grant_type": "client_credentials",
        "appkey": client._appkey,
        "secretkey": client._secretkey,
    }
    assert sent.path == "/api/dostk/ordr"
    assert sent.headers["api-id"] == "kt10000"
    assert sent.headers["authorization"] == "Bearer TOKEN-1"
    assert sent.headers["content-type"] == "application/json;charset=UTF-8"
    assert sent.body == {
        "dmst_stex_tp": "KRX",
        "stk_cd": "005930",
        "ord_qty": "10",
        "ord_uv": "70000",
        "trde_tp": "0",
        "cond_uv": "",
    }
    assert all(isinstance(v, str) for v in sent.body.values())


def test_client_bodies_are_the_ones_show_prints(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script("kt10001", {"ord_no": "0000200", **OK})
    client.place("000660", "sell", 3, 150000, "stop_limit", stop_price=149000)
    expected = wire.place_request(
        symbol="000660",
        side="sell",
        qty=3,
        price=150000,
        order_type="stop_limit",
        stop_price=149000,
    )
    assert broker.calls("kt10001")[0].body == expected.body
    assert expected.body["trde_tp"] == "28" and expected.body["cond_uv"] == "149000"


def test_market_order_sends_an_empty_price(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script("kt10001", {"ord_no": "0000201", **OK})
    client.place("005930", "sell", 5, None, "market")
    body = broker.calls("kt10001")[0].body
    assert (body["trde_tp"], body["ord_uv"]) == ("3", "")


def test_modify_and_cancel_answers_become_typed_acks(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script(
        "kt10002",
        {"ord_no": "0000140", "base_orig_ord_no": "0000139", "mdfy_qty": "000000000010", **OK},
    )
    broker.script(
        "kt10003",
        {"ord_no": "0000141", "base_orig_ord_no": "0000139", "cncl_qty": "000000000004", **OK},
    )
    assert client.modify("0000139", "005930", 71000) == ModifyAck(
        ord_no="0000140", base_orig_ord_no="0000139", qty=10
    )
    assert client.cancel("0000140", "005930", qty=4) == CancelAck(
        ord_no="0000141", base_orig_ord_no="0000139", qty=4
    )
    assert broker.calls("kt10002")[0].body == {
        "dmst_stex_tp": "KRX",
        "orig_ord_no": "0000139",
        "stk_cd": "005930",
        "mdfy_qty": "0",
        "mdfy_uv": "71000",
    }
    assert broker.calls("kt10003")[0].body["cncl_qty"] == "4"


def test_quote_takes_absolute_values_of_signed_prices(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script(
        "ka10001",
        {
            "stk_cd": "005930",
            "cur_prc": "-160400",
            "upl_pric": "+208500",
            "lst_pric": "-112300",
            "base_pric": "160500",
            **OK,
        },
    )
    assert client.quote("005930") == Quote(
        symbol="005930", price=160400, upper_limit=208500, lower_limit=112300, base_price=160500
    )
    assert broker.calls("ka10001")[0].path == "/api/dostk/stkinfo"


def _page(key: str, rows: list[dict[str, str]], more: str | None) -> httpx.Response:
    headers = {"cont-yn": "Y", "next-key": more} if more else {"cont-yn": "N"}
    return httpx.Response(200, json={key: rows, **OK}, headers=headers)


def test_open_orders_follow_cont_yn_and_next_key(client: KiwoomClient, broker: FakeKiwoom) -> None:
    row = {
        "ord_no": "0000139",
        "orig_ord_no": "0000000",
        "stk_cd": "005930",
        "ord_stt": "접수",
        "ord_qty": "000000000010",
        "ord_pric": "000000070000",
        "oso_qty": "000000000006",
        "cntr_qty": "000000000004",
        "cntr_pric": "-70000",
        "io_tp_nm": "+매수",
        "trde_tp": "보통",
        "tm": "090005",
        "stex_tp": "KRX",
        "stop_pric": "",
    }
    second = {**row, "ord_no": "0000140", "orig_ord_no": "0000139", "io_tp_nm": "-매도정정"}
    broker.script("ka10075", _page("oso", [row], "K1"), _page("oso", [second], None))
    orders = client.open_orders(symbol="005930")
    assert orders[0] == OpenOrder(
        ord_no="0000139",
        orig_ord_no=None,
        symbol="005930",
        side="buy",
        status="접수",
        qty=10,
        price=70000,
        open_qty=6,
        filled_qty=4,
        fill_price=70000,
        order_type="보통",
        time="090005",
        exchange="KRX",
        stop_price=0,
    )
    assert (orders[1].orig_ord_no, orders[1].side) == ("0000139", "sell")
    first, then = broker.calls("ka10075")
    assert "cont-yn" not in first.headers
    assert (then.headers["cont-yn"], then.headers["next-key"]) == ("Y", "K1")
    assert first.body == {"all_stk_tp": "1", "trde_tp": "0", "stk_cd": "005930", "stex_tp": "0"}


def test_fills_parse_zero_padded_quantities(client: KiwoomClient, broker: FakeKiwoom) -> None:
    row = {
        "ord_no": "0000139",
        "orig_ord_no": "",
        "stk_cd": "005930",
        "ord_qty": "000000000010",
        "ord_pric": "70000",
        "cntr_qty": "000000000010",
        "cntr_pric": "+70000",
        "oso_qty": "000000000000",
        "ord_stt": "체결",
        "ord_tm": "090007",
        "io_tp_nm": "+매수",
    }
    broker.script("ka10076", _page("cntr", [row], None))
    (fill,) = client.fills(symbol="005930", side="buy")
    assert fill == Fill(
        ord_no="0000139",
        orig_ord_no=None,
        symbol="005930",
        side="buy",
        status="체결",
        qty=10,
        price=70000,
        filled_qty=10,
        fill_price=70000,
        open_qty=0,
        time="090007",
    )
    assert broker.calls("ka10076")[0].body["sell_tp"] == "2"


def test_a_business_error_at_http_200_raises(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script("kt10003", official_error(20, "2101", "이미 체결된 주문입니다(0000139)"))
    with pytest.raises(e.AlreadyFilled) as info:
        client.cancel("0000139", "005930")
    assert (info.value.api_id, info.value.code, info.value.http_status) == ("kt10003", "2101", 200)
    assert info.value.broker_message == "[2101:이미 체결된 주문입니다(0000139)]"
    assert len(broker.calls("kt10003")) == 1


def test_the_guide_envelope_raises_too(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script(
        "kt10002",
        httpx.Response(
            400,
            json={
                "rt_cd": "1",
                "msg_cd": "EGW0009",
                "msg1": "존재하지 않는 주문입니다.",
                "msg2": "ord_no 재확인",
            },
        ),
    )
    with pytest.raises(e.NoSuchOrder) as info:
        client.modify("1234567", "005930", 71000)
    assert info.value.broker_message == "존재하지 않는 주문입니다. / ord_no 재확인"
    assert len(broker.calls("kt10002")) == 1


def test_bad_arguments_never_reach_the_wire(client: KiwoomClient, broker: FakeKiwoom) -> None:
    with pytest.raises(ValueError, match="side"):
        client.place("005930", "Buy", 10, 70000, "limit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="price"):
        client.place("005930", "buy", 10, None, "limit")
    with pytest.raises(ValueError, match="qty"):
        client.place("005930", "buy", 0, 70000, "limit")
    with pytest.raises(ValueError, match="stop_price"):
        client.place("005930", "buy", 1, 70000, "stop_limit")
    assert [s.api_id for s in broker.sent if s.api_id.startswith("kt")] == []


def test_mock_and_live_domains_never_mix() -> None:
    with pytest.raises(UsageError, match="never mix"):
        KiwoomClient(appkey="a", secretkey="s", env="mock", base_url="https://api.kiwoom.com")
    with pytest.raises(UsageError, match="never mix"):
        KiwoomClient(appkey="a", secretkey="s", env="live", base_url="https://mockapi.kiwoom.com/")
    with pytest.raises(UsageError, match="app key"):
        KiwoomClient(appkey="", secretkey="s", env="sim")


def test_an_unreadable_success_answer_to_an_order_is_an_unknown_outcome(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script("kt10000", {**OK})  # success, but no ord_no
    with pytest.raises(e.UnknownOutcome) as info:
        client.place("005930", "buy", 10, 70000, "limit")
    assert info.value.request.body["ord_qty"] == "10"
    assert json.dumps(info.value.request.body)  # the request is plain data, fit for a journal
