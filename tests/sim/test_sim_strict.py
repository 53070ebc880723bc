"""Kiwoom's strictness: 1511, 1517, 1501/1504/1505, 8005, 8030/8031, each as Kiwoom words it."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.sim import Simulator
from tests.support.sim import Raw, msg_code

PLACE = {
    "dmst_stex_tp": "KRX",
    "stk_cd": "005930",
    "ord_qty": "10",
    "ord_uv": "70000",
    "trde_tp": "0",
    "cond_uv": "",
}


@pytest.mark.parametrize("field", ["dmst_stex_tp", "stk_cd", "ord_qty", "ord_uv", "trde_tp"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_a_missing_required_field_is_1511_naming_the_field(
    sim: Simulator, raw: Raw, field: str, how: str
) -> None:
    body = {k: v for k, v in PLACE.items() if k != field}
    if how == "empty":
        body[field] = ""
    answer = raw.call("kt10000", body)
    assert answer == {
        "return_code": 2,
        "return_msg": f"[1511:필수 입력 값에 값이 존재하지 않습니다({field})]",
    }
    assert sim.orders() == {}


@pytest.mark.parametrize(
    ("api_id", "body", "field"),
    [
        ("kt10000", PLACE | {"ord_qty": 10}, "ord_qty"),  # a number, not a string
        ("kt10000", PLACE | {"ord_qty": "ten"}, "ord_qty"),
        ("kt10000", PLACE | {"ord_qty": "0"}, "ord_qty"),
        ("kt10000", PLACE | {"trde_tp": "99"}, "trde_tp"),
        ("kt10000", PLACE | {"stk_cd": "5930"}, "stk_cd"),
        ("kt10000", PLACE | {"cond_uv": None}, "cond_uv"),
        (
            "kt10003",
            {"dmst_stex_tp": "KRX", "orig_ord_no": "139", "stk_cd": "005930", "cncl_qty": "0"},
            "orig_ord_no",
        ),
        (
            "kt10003",
            {"dmst_stex_tp": "KRX", "orig_ord_no": "0000139", "stk_cd": "005930", "cncl_qty": "-1"},
            "cncl_qty",
        ),
        ("ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "9"}, "stex_tp"),
    ],
)
def test_a_malformed_field_is_1517_naming_the_field(
    raw: Raw, api_id: str, body: dict[str, object], field: str
) -> None:
    answer = raw.call(api_id, body)
    assert msg_code(answer) == 1517
    assert answer["return_msg"] == f"[1517:입력 값 형식이 올바르지 않습니다({field})]"


def test_a_body_that_is_not_a_json_object_is_1517(raw: Raw) -> None:
    resp = raw.http.post(
        "/api/dostk/ordr",
        content=b"ord_qty=10",
        headers={"api-id": "kt10000", "authorization": f"Bearer {raw.token}"},
    )
    assert msg_code(resp.json()) == 1517


def test_api_id_missing_unknown_or_for_another_url(raw: Raw) -> None:
    missing = raw.http.post(
        "/api/dostk/ordr", json=PLACE, headers={"authorization": f"Bearer {raw.token}"}
    )
    assert msg_code(missing.json()) == 1501
    assert msg_code(raw.call("kt99999", PLACE, path="/api/dostk/ordr")) == 1505
    wrong = raw.call("ka10001", {"stk_cd": "005930"}, path="/api/dostk/ordr")
    assert msg_code(wrong) == 1504
    assert raw.call("kt10000", PLACE)["return_code"] == 0


def test_the_token_call_needs_no_api_id_and_answers_kiwoom_fields(
    sim: Simulator, clock: ManualClock
) -> None:
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        resp = http.post(
            "/oauth2/token",
            json={"grant_type": "client_credentials", "appkey": "a", "secretkey": "b"},
        )
    data = resp.json()
    assert set(data) == {"token", "token_type", "expires_dt", "return_code", "return_msg"}
    assert data["return_code"] == 0 and isinstance(data["return_code"], int)
    assert data["token_type"] == "bearer"
    assert data["expires_dt"] == "20261127093000"  # 24 hours after 09:30 KST
    assert sim.log[-1].body == {
        "grant_type": "client_credentials",
        "appkey": "***",
        "secretkey": "***",
    }


def test_a_missing_wrong_expired_or_revoked_token_is_8005(
    sim: Simulator, raw: Raw, clock: ManualClock
) -> None:
    refusal = {"return_code": 3, "return_msg": "[8005:Token이 유효하지 않습니다]"}
    assert raw.call("kt10000", PLACE, token="not-a-token") == refusal
    no_header = raw.http.post("/api/dostk/ordr", json=PLACE, headers={"api-id": "kt10000"})
    assert no_header.json() == refusal
    old = raw.token
    revoke = {"appkey": "appkey-1", "secretkey": "secret-1", "token": old}
    assert raw.http.post("/oauth2/revoke", json=revoke).json()["return_code"] == 0
    assert raw.call("kt10000", PLACE, token=old) == refusal
    raw.login()
    clock.advance(dt.timedelta(hours=24, seconds=1).total_seconds())
    assert raw.call("ka10001", {"stk_cd": "005930"}) == refusal
    assert sim.orders() == {}


def test_a_key_or_token_of_the_other_environment_is_8030_or_8031(sim: Simulator, raw: Raw) -> None:
    sim.register_key("live-key", "live-secret", env="live")
    answer = raw.login("live-key", "live-secret")
    assert answer["return_code"] == 3 and msg_code(answer) == 8030
    sim.register_token("a-live-token", env="live")
    answer = raw.call("kt10000", PLACE, token="a-live-token")
    assert answer["return_code"] == 3 and msg_code(answer) == 8031
    assert sim.orders() == {}


def test_mock_takes_krx_orders_only(raw: Raw) -> None:
    answer = raw.call("kt10000", PLACE | {"dmst_stex_tp": "NXT"})
    assert msg_code(answer) == 1901


def test_a_live_simulator_takes_nxt(clock: ManualClock) -> None:
    sim = Simulator(clock=clock, env="live")
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        raw = Raw(http)
        raw.login()
        assert raw.call("kt10000", PLACE | {"dmst_stex_tp": "NXT"})["return_code"] == 0
