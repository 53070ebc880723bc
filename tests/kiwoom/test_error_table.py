"""The broker's error codes in one table: each code's class, token codes refreshed once,
and order answers classified by code first, then by the broker's own Korean wording."""

from __future__ import annotations

import pytest

from planrunner.kiwoom import codes
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.envelope import error_class, failure_of
from tests.support.fake_broker import OK, FakeKiwoom, official_error

CLASS_OF = {
    "bug": e.ServerBug,
    "field": e.BadField,
    "back-off": e.RateLimited,
    "rate": e.RateLimited,
    "symbol": e.UnknownSymbol,
    "server": e.ServerError,
    "auth": e.AuthError,
    "token": e.AuthError,  # once the one refresh is spent
    "env": e.EnvironmentMismatch,
    "mock": e.NotSupportedOnMock,
    "price": e.PriceOutOfRange,
    "filled": e.AlreadyFilled,
    "gone": e.NoSuchOrder,
}


@pytest.mark.parametrize("code", sorted(codes.ERRORS))
def test_issue15_item2_each_code_has_its_class(code: str) -> None:
    entry = codes.ERRORS[code]
    assert entry.meaning and entry.source
    failure = failure_of({"return_code": 2, "return_msg": f"[{code}:메시지]"})
    assert failure is not None and failure.code == code
    assert error_class(failure) is CLASS_OF[entry.cls]
    expected_kind = {"token": "token", "rate": "rate", "back-off": "rate", "server": "server"}
    assert failure.kind == expected_kind.get(entry.cls, "final")


@pytest.mark.parametrize("code", ["8003", "8006", "8009"])
def test_issue15_item2_token_codes_refresh_once_and_resend(
    client: KiwoomClient, broker: FakeKiwoom, code: str
) -> None:
    broker.issue_fresh_tokens()
    refused = official_error(3, code, "접근토큰이 유효하지 않습니다")
    broker.script("kt10000", refused, {"ord_no": "0000139", **OK})
    assert client.place("005930", "buy", 10, 70000, "limit").ord_no == "0000139"
    sent = broker.calls("kt10000")
    assert [s.headers["authorization"] for s in sent] == ["Bearer TOKEN-1", "Bearer TOKEN-2"]
    # refused again after the refresh: an auth error, not a third send
    broker.script("kt10003", refused, refused)
    with pytest.raises(e.AuthError) as info:
        client.cancel("0000139", "005930")
    assert info.value.code == code
    assert len(broker.calls("kt10003")) == 2


@pytest.mark.parametrize(
    "return_msg",
    [
        "[2000](RC4061:주문번호를 확인하세요)",  # the mock's own code
        "[2000](RC4999:주문번호를 확인하세요.)",  # an unknown code: the wording decides
        "[571489:원주문번호를 확인하세요]",
    ],
)
def test_issue15_item2_check_the_order_number_is_order_gone(
    client: KiwoomClient, broker: FakeKiwoom, return_msg: str
) -> None:
    broker.issue_fresh_tokens()
    broker.script("kt10003", {"return_code": 20, "return_msg": return_msg})
    with pytest.raises(e.NoSuchOrder) as info:
        client.cancel("0000139", "005930")
    assert info.value.reason == "no-such-order"
    assert info.value.broker_message == return_msg  # the Korean text, as received
    text = str(info.value)
    assert "주문번호를 확인하세요" in text and "no open order with that number" in text


@pytest.mark.parametrize(
    ("return_msg", "cls"),
    [
        ("[2000](RC4033:정정/취소할 수량이 없습니다)", e.AlreadyFilled),
        ("[2000](RC4003:모의투자 호가단위 오류입니다.)", e.PriceOutOfRange),
        ("[2000](RC4998:모의투자 정정/취소할 수량이 없습니다)", e.AlreadyFilled),
    ],
)
def test_issue15_item2_mock_wording_from_real_logs(
    client: KiwoomClient, broker: FakeKiwoom, return_msg: str, cls: type[e.KiwoomError]
) -> None:
    broker.issue_fresh_tokens()
    broker.script("kt10002", {"return_code": 20, "return_msg": return_msg})
    with pytest.raises(cls):
        client.modify("0000139", "005930", 70100)
    assert len(broker.calls("kt10002")) == 1  # a rejection is never resent
