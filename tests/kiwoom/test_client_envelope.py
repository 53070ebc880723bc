"""Both envelopes (official `return_code`/`[code:message]` and the guide's
`{rt_cd, msg_cd, msg1, msg2}`) classify into one error tree."""

from __future__ import annotations

from typing import Any

import pytest

from planrunner.errors import BrokerError
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.envelope import error_class, failure_of, verdict


def official(rc: int, code: str, msg: str) -> dict[str, Any]:
    return {"return_code": rc, "return_msg": f"[{code}:{msg}]"}


def guide(code: str, msg1: str, msg2: str = "") -> dict[str, Any]:
    return {"rt_cd": "1", "msg_cd": code, "msg1": msg1, "msg2": msg2}


@pytest.mark.parametrize(
    "body",
    [
        {"return_code": 0, "return_msg": "정상적으로 처리되었습니다", "ord_no": "0000139"},
        {"return_code": "0", "return_msg": ""},
        {"rt_cd": "0", "msg_cd": "", "msg1": "정상"},
        {"ord_no": "1234567", "dmst_stex_tp": "KRX"},  # the guide's success has no envelope
    ],
)
def test_success_bodies_have_no_failure(body: dict[str, Any]) -> None:
    assert failure_of(body) is None


@pytest.mark.parametrize(
    ("body", "kind", "cls"),
    [
        (official(3, "8005", "Token이 유효하지 않습니다"), "token", e.AuthError),
        (official(5, "1700", "허용된 요청 개수를 초과하였습니다"), "rate", e.RateLimited),
        (official(5, "1701", "전체 요청 초과"), "rate", e.RateLimited),
        (official(5, "1702", "그룹 요청 초과"), "rate", e.RateLimited),
        (official(1, "1999", "예기치 못한 에러"), "server", e.ServerError),
        (official(3, "8030", "실전투자 앱키가 아닙니다"), "final", e.EnvironmentMismatch),
        (official(3, "8031", "모의투자 앱키가 아닙니다"), "final", e.EnvironmentMismatch),
        (official(3, "8001", "App Key와 Secret Key 검증 실패"), "final", e.AuthError),
        (
            official(2, "8104", "모의투자에서는 지원하지 않는 API입니다"),
            "final",
            e.NotSupportedOnMock,
        ),
        (official(2, "1504", "해당 URI에서는 지원하는 API ID가 아닙니다"), "final", e.ServerBug),
        (
            official(2, "1511", "필수 입력 값에 값이 존재하지 않습니다(ord_qty)"),
            "final",
            e.BadField,
        ),
        (official(2, "1517", "입력 값 형식이 올바르지 않습니다(ord_uv)"), "final", e.BadField),
        (official(20, "1902", "종목 정보가 없습니다"), "final", e.UnknownSymbol),
        (
            guide("EGW0008", "이미 체결된 주문입니다.", "부분 체결 건은 취소 불가"),
            "final",
            e.AlreadyFilled,
        ),
        (guide("EGW0009", "존재하지 않는 주문입니다.", "ord_no 재확인"), "final", e.NoSuchOrder),
        (guide("EGW0010", "장 종료 후 주문 불가"), "final", e.MarketClosed),
        (guide("EGW0011", "부분 체결된 주문입니다"), "final", e.PartiallyFilled),
        (guide("EGW0001", "잘못된 요청"), "final", e.BadField),
        (guide("EGW0002", "인증 실패"), "token", e.AuthError),
        (guide("EGW9999", "시스템 오류"), "server", e.ServerError),
    ],
)
def test_codes_classify(body: dict[str, Any], kind: str, cls: type[e.KiwoomError]) -> None:
    failure = failure_of(body)
    assert failure is not None
    assert failure.kind == kind
    assert error_class(failure) is cls


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("이미 체결된 주문입니다(0000139)", e.AlreadyFilled),
        ("정정/취소할 수량이 없습니다", e.AlreadyFilled),
        ("원주문번호(0000999)가 존재하지 않습니다", e.NoSuchOrder),
        ("이미 취소된 주문입니다(0000141)", e.NoSuchOrder),
        ("이미 정정된 주문입니다(0000139): 최신 주문번호 사용", e.NoSuchOrder),
        ("주문 가능 시간이 아닙니다", e.MarketClosed),
        ("장종료 되었습니다", e.MarketClosed),
        ("주문가격(99000)이 상하한가(49000~91000)를 벗어났습니다", e.PriceOutOfRange),
        ("호가단위가 맞지 않는 주문가격입니다(70010)", e.PriceOutOfRange),
        ("부분 체결된 주문은 정정할 수 없습니다", e.PartiallyFilled),
        ("정정/취소 가능수량(3)을 초과하였습니다", e.Rejected),
    ],
)
def test_order_rejections_classify_by_their_korean_sentence(
    message: str, cls: type[e.KiwoomError]
) -> None:
    failure = failure_of(official(20, "2101", message))
    assert failure is not None and failure.kind == "final"
    assert error_class(failure) is cls


def test_a_code_outside_brackets_is_still_found() -> None:
    failure = failure_of({"return_code": 2, "return_msg": "[2000](800033:모의투자 정정 불가)"})
    assert failure is not None and failure.code == "800033"
    bare = failure_of({"return_code": 3, "return_msg": "Token 만료"})
    assert bare is not None and (bare.code, bare.kind) == ("8005", "token")


def test_http_status_decides_only_when_the_body_is_silent() -> None:
    ok = {"return_code": 0, "return_msg": "ok"}
    assert verdict(200, ok, "") is None
    rate = verdict(429, {}, "Too Many Requests")
    assert rate is not None and (rate.code, rate.kind) == ("429", "rate")
    server = verdict(502, {}, "Bad Gateway")
    assert server is not None and (server.code, server.kind) == ("502", "server")
    silent = verdict(200, {}, "")
    assert silent is not None and silent.kind == "server"  # a 2xx without a body proves nothing
    token = verdict(401, official(3, "8005", "Token이 유효하지 않습니다"), "")
    assert token is not None and token.kind == "token"
    bad = verdict(404, {}, "Not Found")
    assert bad is not None and bad.kind == "final"


def test_every_error_is_a_broker_error_with_api_id_code_and_korean_text() -> None:
    err = e.AlreadyFilled(
        api_id="kt10003", code="EGW0008", broker_message="이미 체결된 주문입니다."
    )
    assert isinstance(err, BrokerError)
    assert err.reason == "already-filled"
    assert str(err) == (
        "kt10003: The order is already filled: nothing is left to modify or cancel."
        " — broker said [EGW0008] 이미 체결된 주문입니다."
    )
