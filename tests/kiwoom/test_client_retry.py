"""Only what proves "not executed" is resent; an order whose outcome is unknown never is."""

from __future__ import annotations

import httpx
import pytest

from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from tests.support.fake_broker import OK, FakeKiwoom, Sleeps, official_error

PLACED = {"ord_no": "0000139", "dmst_stex_tp": "KRX", **OK}
RATE = official_error(5, "1700", "허용된 요청 개수를 초과하였습니다")


def place(client: KiwoomClient) -> str:
    return client.place("005930", "buy", 10, 70000, "limit").ord_no


def test_rate_limit_answers_are_retried_with_backoff(
    client: KiwoomClient, broker: FakeKiwoom, sleeps: Sleeps
) -> None:
    broker.script("kt10000", httpx.Response(429), RATE, PLACED)
    assert place(client) == "0000139"
    assert len(broker.calls("kt10000")) == 3
    assert sleeps == [0.25, 0.5]


def test_retry_after_is_honoured(client: KiwoomClient, broker: FakeKiwoom, sleeps: Sleeps) -> None:
    broker.script("ka10001", httpx.Response(429, headers={"retry-after": "2"}), {"cur_prc": "1"})
    assert client.quote("005930").price == 1
    assert sleeps == [2.0]


def test_rate_limit_retries_are_bounded(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script("kt10000", RATE)
    with pytest.raises(e.RateLimited) as info:
        place(client)
    assert info.value.code == "1700"
    assert len(broker.calls("kt10000")) == 1 + client.retry.rate_limited


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(503, json=official_error(1, "1999", "예기치 못한 에러")),
        official_error(1, "1999", "예기치 못한 에러가 발생했습니다"),
        {"rt_cd": "1", "msg_cd": "EGW9999", "msg1": "시스템 오류"},
    ],
    ids=["read-timeout", "drop", "reset", "500", "503+1999", "1999", "EGW9999"],
)
@pytest.mark.parametrize("api_id", ["kt10000", "kt10002", "kt10003"])
def test_order_with_unknown_outcome_raises_and_is_not_resent(
    client: KiwoomClient, broker: FakeKiwoom, failure: object, api_id: str
) -> None:
    broker.script(api_id, failure, PLACED)  # type: ignore[arg-type]
    with pytest.raises(e.UnknownOutcome) as info:
        if api_id == "kt10000":
            place(client)
        elif api_id == "kt10002":
            client.modify("0000139", "005930", 71000)
        else:
            client.cancel("0000139", "005930")
    assert len(broker.calls(api_id)) == 1
    assert info.value.request.api_id == api_id
    assert info.value.request.body == broker.calls(api_id)[0].body
    assert "reconcile" in str(info.value)


def test_an_order_that_never_connected_is_retried(
    client: KiwoomClient, broker: FakeKiwoom, sleeps: Sleeps
) -> None:
    broker.script("kt10000", httpx.ConnectError("refused"), PLACED)
    assert place(client) == "0000139"
    assert len(broker.calls("kt10000")) == 2


def test_never_connecting_gives_up_as_unreachable(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.script("kt10000", httpx.ConnectTimeout("connect timed out"))
    with pytest.raises(e.Unreachable):
        place(client)
    assert len(broker.calls("kt10000")) == 1 + client.retry.not_connected


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("t"), httpx.Response(502), official_error(1, "1999", "에러")],
    ids=["timeout", "502", "1999"],
)
def test_reads_retry_server_failures_boundedly(
    client: KiwoomClient, broker: FakeKiwoom, failure: object
) -> None:
    broker.script("ka10075", failure, {"oso": [], **OK})  # type: ignore[arg-type]
    assert client.open_orders() == []
    broker.script("ka10075", failure)  # type: ignore[arg-type]
    with pytest.raises(e.ServerError):
        client.open_orders()
    assert len(broker.calls("ka10075")) == 2 + 1 + client.retry.read_failures


@pytest.mark.parametrize(
    "answer",
    [
        official_error(20, "2101", "이미 체결된 주문입니다"),
        official_error(2, "1511", "필수 입력 값에 값이 존재하지 않습니다(stk_cd)"),
        official_error(3, "8031", "모의투자 앱키가 아닙니다"),
        official_error(2, "8104", "모의투자에서는 지원하지 않는 API입니다"),
        official_error(2, "1504", "해당 URI에서는 지원하는 API ID가 아닙니다"),
    ],
)
def test_nothing_else_is_retried(client: KiwoomClient, broker: FakeKiwoom, answer: object) -> None:
    broker.script("kt10003", answer, PLACED)  # type: ignore[arg-type]
    with pytest.raises(e.KiwoomError) as info:
        client.cancel("0000139", "005930")
    assert not isinstance(info.value, e.UnknownOutcome | e.RateLimited)
    assert len(broker.calls("kt10003")) == 1


def test_ready_runs_once_before_the_first_send_even_when_resent(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    # The runner waits for an order's instant in `ready`: nothing may have left by then,
    # and a resend (here after a rate-limit answer) must not wait a second time.
    broker.script("kt10000", RATE, PLACED)
    seen: list[int] = []
    ack = client.place(
        "005930",
        "buy",
        10,
        70000,
        "limit",
        ready=lambda _p: seen.append(len(broker.calls("kt10000"))),
    )
    assert ack.ord_no == "0000139"
    assert seen == [0]
    assert len(broker.calls("kt10000")) == 2
