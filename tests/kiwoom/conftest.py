from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from planrunner.clock import SEOUL, ManualClock
from planrunner.kiwoom.client import KiwoomClient
from tests.support.fake_broker import FakeKiwoom, Sleeps, fake_client


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
    with fake_client(broker, clock, sleep=sleeps) as c:
        yield c
