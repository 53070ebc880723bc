from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from planrunner.clock import SEOUL, ManualClock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits
from tests.support.fake_broker import APPKEY, SECRETKEY, FakeKiwoom, Sleeps


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
