from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fake_broker import FakeKiwoom

from planrunner.calendar import SEOUL
from planrunner.clock import ManualClock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits

APPKEY = "APPKEY-sekrit-0123456789"
SECRETKEY = "SECRETKEY-sekrit-9876543210"


class Sleeps(list[float]):
    """An injected sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def broker() -> FakeKiwoom:
    return FakeKiwoom()


@pytest.fixture
def client(broker: FakeKiwoom, clock: ManualClock, sleeps: Sleeps) -> Iterator[KiwoomClient]:
    with KiwoomClient(
        appkey=APPKEY,
        secretkey=SECRETKEY,
        env="mock",
        base_url="http://broker.test",
        transport=broker.transport(),
        clock=clock,
        sleep=sleeps,
        rate_limits=RateLimits(),  # unlimited: the limiter has its own tests
    ) as c:
        yield c
