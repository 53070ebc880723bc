from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from planrunner.clock import ManualClock
from planrunner.sim import Simulator, parse_scenario
from tests.support.sim import STILL, Raw, at


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(9, 30))


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    """005930 at 70,000 (its base) that moves only when a test moves it."""
    return Simulator(clock=clock, scenario=parse_scenario(STILL), seed=1)


@pytest.fixture
def raw(sim: Simulator) -> Iterator[Raw]:
    with httpx.Client(transport=sim.transport(), base_url="https://mockapi.kiwoom.com") as http:
        r = Raw(http)
        r.login()
        yield r
