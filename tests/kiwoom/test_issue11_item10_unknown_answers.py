"""issue 11 item 10: only answers known to mean "not executed" release an order request.

An answer to an order POST that names no documented code and no rejection we know (HTTP
200 with `return_code: 1` and a bare message, a code nobody documented, a 4xx without an
envelope, a bare `return_code 3`) leaves the order's fate unknown: UnknownOutcome, and
the request is not resent.
"""

from __future__ import annotations

import httpx
import pytest

from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from tests.support.fake_broker import OK, FakeKiwoom, official_error

PLACED = {"ord_no": "0000139", "dmst_stex_tp": "KRX", **OK}


@pytest.mark.parametrize(
    "answer",
    [
        {"return_code": 1, "return_msg": "처리 결과를 확인할 수 없습니다"},
        {"return_code": 20, "return_msg": "[RC9999:알 수 없는 응답]"},
        {"rt_cd": "1", "msg_cd": "EGW7777", "msg1": "알 수 없음"},
        httpx.Response(400, text="Bad Request"),
        httpx.Response(404, text="Not Found"),  # no envelope: a proxy's word, not Kiwoom's
        {"return_code": 3, "return_msg": "인증 확인 불가"},  # no [8005:...]: not proven
        {"return_code": 5, "return_msg": "잠시 후"},  # no [1700:...]: not proven
    ],
    ids=["rc1", "undocumented-code", "guide-unknown", "400", "404", "rc3-bare", "rc5-bare"],
)
@pytest.mark.parametrize("api_id", ["kt10000", "kt10002", "kt10003"])
def test_issue11_item10_unrecognised_answer_to_an_order_is_an_unknown_outcome(
    client: KiwoomClient, broker: FakeKiwoom, answer: object, api_id: str
) -> None:
    broker.script(api_id, answer, PLACED)  # type: ignore[arg-type]
    with pytest.raises(e.UnknownOutcome):
        if api_id == "kt10000":
            client.place("005930", "buy", 10, 70000, "limit")
        elif api_id == "kt10002":
            client.modify("0000139", "005930", 70100)
        else:
            client.cancel("0000139", "005930")
    assert len(broker.calls(api_id)) == 1  # never resent


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        (official_error(20, "2101", "이미 체결된 주문입니다(0000139)"), e.AlreadyFilled),
        (official_error(20, "2100", "원주문번호(0000139)가 존재하지 않습니다"), e.NoSuchOrder),
        ({"rt_cd": "1", "msg_cd": "EGW0010", "msg1": "장종료"}, e.MarketClosed),
        (official_error(2, "1517", "입력 값 형식이 올바르지 않습니다"), e.BadField),
        (official_error(20, "1902", "종목정보가 없습니다"), e.UnknownSymbol),
        (official_error(3, "8001", "App Key 검증 실패"), e.AuthError),
    ],
    ids=["filled", "no-such-order", "guide-closed", "1517", "1902", "8001"],
)
def test_issue11_item10_documented_refusals_still_mean_not_executed(
    client: KiwoomClient, broker: FakeKiwoom, answer: dict[str, object], cls: type
) -> None:
    broker.script("kt10003", answer)
    with pytest.raises(cls) as info:
        client.cancel("0000139", "005930")
    assert not isinstance(info.value, e.UnknownOutcome)


def test_issue11_item10_a_read_keeps_its_plain_error(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script("ka10001", {"return_code": 1, "return_msg": "처리 결과를 확인할 수 없습니다"})
    with pytest.raises(e.Rejected):
        client.quote("005930")
