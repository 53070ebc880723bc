"""Fault injection: rate limits, token expiry, 5xx/1999, commit-then-drop, spec parsing."""

from __future__ import annotations

import httpx
import pytest

from planrunner.sim import FaultSpecError, Simulator, parse_fault
from tests.support.sim import Raw, msg_code


def test_a_rate_limit_answers_429_and_1700_and_executes_nothing(sim: Simulator, raw: Raw) -> None:
    sim.faults.add("rate_limit:api=kt10000,count=2")
    for _ in range(2):
        resp = raw.post("kt10000", _place())
        assert resp.status_code == 429
        assert resp.json()["return_code"] == 5
        assert msg_code(resp.json()) == 1700
    assert sim.orders() == {}
    assert raw.call("kt10000", _place())["return_code"] == 0
    assert [e.fault for e in sim.log if e.api_id == "kt10000"] == ["rate_limit", "rate_limit", None]
    assert [e.committed for e in sim.log if e.api_id == "kt10000"] == [False, False, True]


def test_a_rate_limit_can_arrive_at_http_200(sim: Simulator, raw: Raw) -> None:
    sim.faults.rate_limit(api_id="ka10001", status=200)
    resp = raw.post("ka10001", {"stk_cd": "005930"})
    assert (resp.status_code, resp.json()["return_code"]) == (200, 5)
    assert raw.post("kt10000", _place()).status_code == 200  # another api-id is not limited


def test_token_expiry_after_n_calls_then_a_new_token_works(sim: Simulator, raw: Raw) -> None:
    sim.faults.add("token_expiry:after=1")
    assert raw.call("ka10001", {"stk_cd": "005930"})["return_code"] == 0
    assert msg_code(raw.call("ka10001", {"stk_cd": "005930"})) == 8005
    raw.login()
    assert raw.call("ka10001", {"stk_cd": "005930"})["return_code"] == 0


@pytest.mark.parametrize(("commit", "orders"), [(False, 0), (True, 1)])
def test_a_5xx_commits_the_order_only_when_told(
    sim: Simulator, raw: Raw, commit: bool, orders: int
) -> None:
    sim.faults.error(api_id="kt10000", status=503, commit=commit)
    resp = raw.post("kt10000", _place())
    assert resp.status_code == 503
    assert msg_code(resp.json()) == 1999
    assert len(sim.orders()) == orders
    assert sim.log[-1].committed is commit


def test_1999_at_http_200(sim: Simulator, raw: Raw) -> None:
    sim.faults.add("1999:commit=yes")
    resp = raw.post("kt10000", _place())
    assert (resp.status_code, resp.json()["return_code"], msg_code(resp.json())) == (200, 1, 1999)
    assert len(sim.orders()) == 1


def test_commit_then_drop_raises_a_protocol_error_and_leaves_exactly_one_order(
    sim: Simulator, raw: Raw
) -> None:
    sim.faults.drop(api_id="kt10000")
    with pytest.raises(httpx.RemoteProtocolError):
        raw.post("kt10000", _place())
    book = sim.orders()
    assert len(book) == 1
    (order,) = book.values()
    assert (order.state, order.qty) == ("open", 10)
    entry = sim.log[-1]
    assert (entry.dropped, entry.committed, entry.ord_no) == (True, True, order.ord_no)
    # The next call goes through: the fault fired once.
    assert (
        raw.call("ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})["oso"][0]["ord_no"]
        == order.ord_no
    )


def test_latency_is_added_without_changing_the_answer(sim: Simulator, raw: Raw) -> None:
    rule = sim.faults.latency(ms=1, api_id="ka10001")
    assert raw.call("ka10001", {"stk_cd": "005930"})["return_code"] == 0
    assert rule.fired == 1


def test_probabilistic_faults_are_seeded() -> None:
    def pattern(seed: int) -> list[int]:
        sim = Simulator(seed=seed)
        sim.faults.add("rate_limit:p=0.5")
        with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
            body = {"grant_type": "client_credentials", "appkey": "a", "secretkey": "b"}
            return [http.post("/oauth2/token", json=body).status_code for _ in range(30)]

    assert pattern(3) == pattern(3)
    assert 429 in pattern(3) and 200 in pattern(3)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("rate_limit", {"kind": "rate_limit", "count": 1, "api_id": None}),
        ("429:api=kt10000,count=3", {"kind": "rate_limit", "count": 3, "api_id": "kt10000"}),
        ("rate_limit:p=0.25", {"count": None, "probability": 0.25}),
        ("token_expiry:after=10", {"kind": "token_expiry", "after": 10}),
        ("5xx:status=502,commit=yes", {"kind": "error", "status": 502, "commit": True}),
        ("1999", {"kind": "error", "status": 200, "commit": False}),
        ("latency:ms=50", {"kind": "latency", "ms": 50, "count": None}),
        ("drop:api=kt10001", {"kind": "drop", "api_id": "kt10001", "count": 1}),
    ],
)
def test_fault_specs(spec: str, expected: dict[str, object]) -> None:
    rule = parse_fault(spec).as_dict()
    assert {k: rule[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown fault 'explode'"),
        ("drop:when=now", "unknown key 'when'"),
        ("drop:count", "expected key=value"),
        ("rate_limit:p=2", "p must be between 0 and 1"),
        ("5xx:commit=maybe", "expected yes or no"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


def _place() -> dict[str, str]:
    return {
        "dmst_stex_tp": "KRX",
        "stk_cd": "005930",
        "ord_qty": "10",
        "ord_uv": "69000",
        "trde_tp": "0",
        "cond_uv": "",
    }
