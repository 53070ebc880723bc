"""The token: refreshed before expiry, once (single-flight) when refused, cached 0600."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from tests.support.fake_broker import (
    APPKEY,
    OK,
    SECRETKEY,
    FakeKiwoom,
    Sent,
    fake_client,
    official_error,
    token_answer,
)

REFUSED = official_error(3, "8005", "Token이 유효하지 않습니다")
QUOTE = {"cur_prc": "70000", **OK}


def make(broker: FakeKiwoom, clock: ManualClock, **kw: Any) -> KiwoomClient:
    return fake_client(broker, clock, **kw)


def test_a_refused_token_is_refreshed_once_and_the_call_resent_once(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.issue_fresh_tokens()
    broker.script("kt10000", REFUSED, {"ord_no": "0000139", **OK})
    assert client.place("005930", "buy", 10, 70000, "limit").ord_no == "0000139"
    sent = broker.calls("kt10000")
    assert [s.headers["authorization"] for s in sent] == ["Bearer TOKEN-1", "Bearer TOKEN-2"]
    assert len(broker.calls("au10001")) == 2


def test_a_token_refused_twice_is_an_auth_error(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.issue_fresh_tokens()
    broker.script("kt10003", REFUSED)
    with pytest.raises(e.AuthError) as info:
        client.cancel("0000139", "005930")
    assert info.value.code == "8005"
    assert len(broker.calls("kt10003")) == 2
    assert len(broker.calls("au10001")) == 2


def test_refresh_is_single_flight_across_threads(client: KiwoomClient, broker: FakeKiwoom) -> None:
    broker.issue_fresh_tokens()
    n = 8
    barrier = threading.Barrier(n)

    def answer(sent: Sent) -> dict[str, Any]:
        if sent.headers["authorization"] == "Bearer TOKEN-1":
            barrier.wait(timeout=10)  # every thread holds the stale token at once
            return REFUSED
        return QUOTE

    broker.script("ka10001", answer)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.quote("005930").price))
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == [70000] * n
    assert len(broker.calls("au10001")) == 2  # the first token and exactly one refresh
    assert len(broker.calls("ka10001")) == 2 * n


def test_the_token_is_renewed_before_it_expires(
    client: KiwoomClient, broker: FakeKiwoom, clock: ManualClock
) -> None:
    broker.issue_fresh_tokens(expires_dt="20261126093000")  # 30 minutes from the clock
    broker.script("ka10001", QUOTE)
    client.quote("005930")
    clock.advance(15 * 60)
    client.quote("005930")
    assert len(broker.calls("au10001")) == 1
    clock.advance(6 * 60)  # 9 minutes left: inside the 10-minute margin
    client.quote("005930")
    assert len(broker.calls("au10001")) == 2
    assert broker.calls("ka10001")[-1].headers["authorization"] == "Bearer TOKEN-2"


def test_the_cache_file_is_private_named_by_hash_and_reused(
    tmp_path: Path, broker: FakeKiwoom, clock: ManualClock
) -> None:
    broker.issue_fresh_tokens()
    with make(broker, clock, token_cache_dir=tmp_path) as first:
        first.quote("005930")
    (path,) = tmp_path.iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name.startswith("mock-") and APPKEY not in path.name
    text = path.read_text()
    assert "TOKEN-1" in text and APPKEY not in text and SECRETKEY not in text
    with make(broker, clock, token_cache_dir=tmp_path) as second:
        second.quote("005930")
    assert len(broker.calls("au10001")) == 1
    assert broker.calls("ka10001")[-1].headers["authorization"] == "Bearer TOKEN-1"


def test_an_unreadable_cache_is_replaced(
    tmp_path: Path, broker: FakeKiwoom, clock: ManualClock
) -> None:
    client = make(broker, clock, token_cache_dir=tmp_path)
    path = client.tokens._file.path  # type: ignore[union-attr]
    path.write_text("{not json")
    client.quote("005930")
    assert "TOKEN-1" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_revoke_sends_au10002_and_forgets_the_cache(
    tmp_path: Path, broker: FakeKiwoom, clock: ManualClock
) -> None:
    with make(broker, clock, token_cache_dir=tmp_path) as client:
        client.token()
        client.revoke()
    (revoke,) = broker.calls("au10002")
    assert revoke.path == "/oauth2/revoke"
    assert revoke.body == {"appkey": APPKEY, "secretkey": SECRETKEY, "token": "TOKEN-1"}
    assert list(tmp_path.iterdir()) == []


def test_keys_and_tokens_never_show(
    client: KiwoomClient, broker: FakeKiwoom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = official_error(20, "9999", f"bad token TOKEN-1 for {APPKEY}")
    broker.script("kt10000", httpx.Response(429), httpx.ReadTimeout("t"))
    broker.script("kt10002", echo)
    broker.script("kt10003", REFUSED)
    texts = [repr(client), repr(client.token()), repr(client.tokens)]
    for call in (
        lambda: client.place("005930", "buy", 1, 70000, "limit"),
        lambda: client.modify("0000139", "005930", 70100),
        lambda: client.cancel("0000139", "005930"),
    ):
        with pytest.raises(e.KiwoomError) as info:
            call()
        texts += [str(info.value), repr(info.value), repr(vars(info.value))]
    texts += [r.getMessage() for r in caplog.records]
    for secret in (APPKEY, SECRETKEY, "TOKEN-1"):
        assert not [t for t in texts if secret in t], secret


def test_a_bad_key_is_an_auth_error_without_a_retry(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script("au10001", official_error(3, "8001", "App Key와 Secret Key 검증에 실패했습니다"))
    with pytest.raises(e.AuthError) as info:
        client.quote("005930")
    assert (info.value.api_id, info.value.code) == ("au10001", "8001")
    assert len(broker.calls("au10001")) == 1 and not broker.calls("ka10001")


def test_a_token_answer_without_expiry_is_an_auth_error(
    client: KiwoomClient, broker: FakeKiwoom
) -> None:
    broker.script("au10001", {**token_answer(), "expires_dt": ""})
    with pytest.raises(e.AuthError, match="expires_dt"):
        client.token()
