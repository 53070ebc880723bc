"""The limiter waits (on an injected clock) instead of letting the broker refuse."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest

from planrunner.clock import SEOUL, ManualClock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import Rate, RateLimiter, RateLimits, deciding
from planrunner.sim import Simulator
from tests.support.fake_broker import APPKEY, SECRETKEY


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(limits: RateLimits, t: FakeTime) -> RateLimiter:
    return RateLimiter(limits, monotonic=t.monotonic, sleep=t.sleep)


def test_a_burst_passes_then_calls_are_spaced_by_the_rate() -> None:
    t = FakeTime()
    rl = limiter(RateLimits(default=Rate(per_second=1, burst=2)), t)
    waits = [rl.acquire("kt10000") for _ in range(4)]
    assert waits == [0.0, 0.0, 1.0, 1.0]
    assert t.now == 2.0


def test_buckets_are_per_api_id() -> None:
    t = FakeTime()
    rl = limiter(RateLimits(default=Rate(per_second=1, burst=1)), t)
    assert [rl.acquire(a) for a in ("kt10000", "kt10002", "kt10003")] == [0.0, 0.0, 0.0]
    assert rl.acquire("kt10000") == 1.0


def test_the_overall_bucket_spans_api_ids() -> None:
    t = FakeTime()
    rl = limiter(RateLimits(overall=Rate(per_second=2, burst=2)), t)
    assert [rl.acquire(a) for a in ("kt10000", "kt10002", "kt10003")] == [0.0, 0.0, 0.5]


def test_per_api_overrides_and_none_means_unlimited() -> None:
    t = FakeTime()
    limits = RateLimits(
        default=Rate(per_second=1, burst=1),
        per_api={"ka10001": None, "kt10000": Rate(per_second=4, burst=1)},
    )
    rl = limiter(limits, t)
    assert sum(rl.acquire("ka10001") for _ in range(50)) == 0.0
    assert [rl.acquire("kt10000") for _ in range(3)] == [0.0, 0.25, 0.25]


def test_idle_time_refills_up_to_the_burst_only() -> None:
    t = FakeTime()
    rl = limiter(RateLimits(default=Rate(per_second=1, burst=2)), t)
    rl.acquire("kt10000")
    t.now += 100
    assert [rl.acquire("kt10000") for _ in range(3)] == [0.0, 0.0, 1.0]


def _until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_orders_go_before_polls_waiting_in_line() -> None:
    """Twelve price polls wait for an empty overall bucket; a watch on open orders, a
    job's list and quote (inside `deciding()`) and an order come after them. Each token
    then goes to the best in line: the order, the job's reads in their order, then the
    rest in theirs. (The clock is the test's: it frees one token at a time.)"""
    t = FakeTime()
    rl = RateLimiter(RateLimits(overall=Rate(per_second=20, burst=1)), monotonic=t.monotonic)
    rl.acquire("ka10001")  # the bucket is empty: everybody after this waits
    served: list[str] = []

    def go(api_id: str, label: str) -> None:
        rl.acquire(api_id)
        served.append(label)

    def job_quote() -> None:
        with deciding():
            go("ka10001", "job's quote")

    def job_list() -> None:
        with deciding():
            go("ka10075", "job's list")

    threads = [threading.Thread(target=go, args=("ka10001", "poll")) for _ in range(12)]
    threads += [
        threading.Thread(target=go, args=("ka10075", "watch")),
        threading.Thread(target=job_list),
        threading.Thread(target=job_quote),
        threading.Thread(target=go, args=("kt10000", "order")),
    ]
    for n, th in enumerate(threads, 1):
        th.start()
        _until(lambda n=n: len(rl._line) == n)  # type: ignore[misc]
    assert served == []
    for n in range(1, 17):
        t.now += 0.05  # one token
        _until(lambda n=n: len(served) == n)  # type: ignore[misc]
    for th in threads:
        th.join(timeout=60)
    assert served == ["order", "job's list", "job's quote"] + ["poll"] * 12 + ["watch"]
    assert rl.granted == {0: 1, 1: 2, 2: 14}


def test_an_order_waiting_for_its_own_bucket_does_not_hold_back_reads() -> None:
    t = FakeTime()
    limits = RateLimits(default=Rate(per_second=1, burst=1), overall=Rate(per_second=5, burst=5))
    rl = RateLimiter(limits, monotonic=t.monotonic)  # the test's clock: frozen until moved
    rl.acquire("kt10000")
    th = threading.Thread(target=rl.acquire, args=("kt10000",))  # waits for kt10000's bucket
    th.start()
    _until(lambda: len(rl._line) == 1)
    assert rl.try_acquire("ka10001")  # a read takes the overall bucket meanwhile
    assert not rl.try_acquire("kt10000")  # the waiting order is ahead of a new one
    t.now += 1.0
    th.join(timeout=60)
    assert not th.is_alive() and rl.granted == {0: 2, 2: 1}


def test_defaults_are_cautious_on_mock_and_open_on_the_simulator() -> None:
    mock, live, sim = (RateLimits.for_env(env) for env in ("mock", "live", "sim"))
    assert mock.for_api("kt10000") == Rate(per_second=1, burst=2)
    live_rate = live.for_api("kt10000")
    assert live_rate is not None and live_rate.per_second > 1
    assert sim.for_api("kt10000") is None and sim.overall is None
    with pytest.raises(ValueError):
        Rate(per_second=0)


def test_the_client_waits_its_turn_on_mock_defaults() -> None:
    clock = ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))
    sim, t = Simulator(clock=clock, default_price=70000), FakeTime()
    with KiwoomClient(
        appkey=APPKEY, secretkey=SECRETKEY, env="mock", base_url="http://sim.test",
        transport=sim.transport(), clock=clock, sleep=t.sleep, monotonic=t.monotonic,
    ) as kc:  # fmt: skip
        for _ in range(4):
            kc.quote("005930")
    assert t.slept == [1.0, 1.0]  # burst 2, then 1/s per api-id
    assert all(x.code != 1700 for x in sim.log_snapshot())


def test_try_acquire_takes_a_slot_only_when_no_wait_is_needed() -> None:
    t = FakeTime()
    limits = RateLimits(default=Rate(per_second=1, burst=2), overall=Rate(per_second=10, burst=5))
    rl = limiter(limits, t)
    assert [rl.try_acquire("kt10000") for _ in range(3)] == [True, True, False]
    assert rl.acquire("kt10000") == 1.0  # the refusal took nothing: next in line waits 1 s
    assert rl.try_acquire("kt10001")  # another api-id has its own bucket
    assert t.slept == [1.0]


def test_issue14_free_tells_whether_a_call_could_go_now_and_takes_nothing() -> None:
    t = FakeTime()
    limits = RateLimits(default=Rate(per_second=1, burst=2), overall=Rate(per_second=10, burst=5))
    rl = limiter(limits, t)
    assert rl.limited and not limiter(RateLimits(), t).limited
    assert [rl.free("ka10075") for _ in range(5)] == [True] * 5  # asking takes no slot
    rl.acquire("ka10075")
    rl.acquire("ka10075")
    assert not rl.free("ka10075")  # the burst is spent: a background poll waits its turn
    assert rl.free("ka10076")  # another api-id has its own bucket
    assert t.slept == []


def test_free_says_whether_a_call_could_go_now_and_takes_nothing() -> None:
    t = FakeTime()
    rl = limiter(RateLimits(default=Rate(per_second=1, burst=1)), t)
    assert rl.limited and not limiter(RateLimits(), t).limited
    assert rl.free("ka10001") and rl.free("ka10001")  # asking twice takes nothing
    rl.acquire("ka10001")
    assert not rl.free("ka10001") and rl.free("kt10000")


def test_a_limiter_starts_from_what_the_run_before_left_on_the_key() -> None:
    """The broker counts a key's requests, not a process's: a run started right after
    another does not spend a burst the broker still counts as spent."""
    t = FakeTime()
    mock = RateLimits.for_env("mock")  # 1/s with a burst of 2 per api-id; 3/s overall
    before = limiter(mock, t)
    assert [before.acquire("ka10075") for _ in range(2)] == [0.0, 0.0]
    t.now += 0.25
    owed = before.owed()
    assert owed == pytest.approx({"ka10075": 1.75, "*": (3 - 1.75) / 3})
    fresh = limiter(mock, t)  # a run that knows nothing of the one before: a whole burst
    assert [fresh.acquire("ka10075") for _ in range(2)] == [0.0, 0.0]
    t.now += 0.25
    after = limiter(mock, t)
    after.owe({name: seconds - 0.25 for name, seconds in owed.items()})
    assert after.acquire("ka10075") == pytest.approx(0.5)  # 0.25 + 0.25 + 0.5 = 1 s refilled
    assert after.acquire("ka10001") == 0.0  # another api-id's bucket owes nothing
    assert after.owed()["ka10075"] == pytest.approx(2.0)  # empty again: 2 s to a burst
    after.owe({"ka10075": 100.0, "kt10000": -1.0})  # more than a whole bucket: empty, no less
    assert after.acquire("ka10075") == pytest.approx(1.0)
    assert after.acquire("kt10000") == 0.0
