"""`planrunner sim --rate-limit`: the simulator refuses a key's excess as Kiwoom does
(1700 per api-id, 1701 overall), so a test of the client's budget can fail."""

from __future__ import annotations

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.sim import Simulator, parse_scenario
from tests.support.sim import STILL, Raw, msg_code, sim_client


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(clock: ManualClock, t: FakeTime) -> Simulator:
    s = Simulator(clock=clock, scenario=parse_scenario(STILL), seed=1, budget="mock")
    assert s.budget is not None
    s.budget.monotonic = t.monotonic
    return s


def _quote(raw: Raw) -> httpx.Response:
    return raw.post("ka10001", {"stk_cd": "005930"})


def test_an_api_id_over_its_rate_is_refused_with_1700_and_refills(
    sim: Simulator, raw: Raw, t: FakeTime
) -> None:
    assert [_quote(raw).status_code for _ in range(2)] == [200, 200]  # the burst
    refused = _quote(raw)
    assert refused.status_code == 429 and refused.json()["return_code"] == 5
    assert msg_code(refused.json()) == 1700
    assert sim.log[-1].fault == "rate_limit" and not sim.log[-1].committed
    t.now += 1.0
    assert _quote(raw).status_code == 200


def test_the_key_over_its_overall_rate_is_refused_with_1701(
    sim: Simulator, raw: Raw, t: FakeTime
) -> None:
    # The login spent one of the overall 3 (+ 1.5 of slack); each api-id is within its 2.
    answers = [raw.post("ka10001", {"stk_cd": "005930"}) for _ in range(2)]
    answers += [raw.post("ka10075", _open_orders()) for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert msg_code(answers[-1].json()) == 1701
    other = Raw(raw.http)
    other.login("appkey-2", "secret-2")  # another key has a budget of its own
    assert _quote(other).status_code == 200


def test_the_client_keeping_to_the_mock_limits_is_never_refused(
    sim: Simulator, clock: ManualClock, t: FakeTime
) -> None:
    with sim_client(sim, clock, env="mock", sleep=t.sleep, monotonic=t.monotonic) as kc:
        for _ in range(12):
            kc.quote("005930")
            kc.open_orders()
    assert all(e.code not in (1700, 1701) for e in sim.log_snapshot())
    assert t.now >= 10  # the client waited its turn


def test_a_client_without_limits_is_refused(
    sim: Simulator, clock: ManualClock, t: FakeTime
) -> None:
    with sim_client(sim, clock, rate_limits=RateLimits(), sleep=t.sleep) as kc:
        for _ in range(6):
            kc.quote("005930")  # the client's retries after 1700 (backoff) get it through
    assert any(e.code == 1700 for e in sim.log_snapshot())


def _open_orders() -> dict[str, str]:
    return {"all_stk_tp": "0", "trde_tp": "0", "stk_cd": "", "stex_tp": "0"}
