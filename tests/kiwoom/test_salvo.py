"""Salvos (planrunner/engine/salvo.py): orders due at one instant are written by one thread at
the instant, each exactly once; what the rate limit holds back, what joins late and what
the leader could not wait for is sent by its own thread, never before the instant."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from planrunner.clock import SEOUL, ManualClock
from planrunner.engine.salvo import Salvo
from planrunner.kiwoom.channel import Prepared
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import Rate, RateLimits
from planrunner.sim import Simulator, parse_scenario
from planrunner.sim.server import SimServer
from tests.kiwoom.test_channel import SCENARIO, arrived, make_client


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve(port=0) as s:
        yield s


@pytest.fixture
def sim() -> Simulator:
    clock = ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))
    return Simulator(clock=clock, scenario=parse_scenario(SCENARIO))


def sleep_until(target: float) -> Callable[[], None]:
    def wait() -> None:
        while (left := target - time.time()) > 0:
            time.sleep(left)

    return wait


class Shot:
    """One thread placing one order through the salvo; what it saw."""

    def __init__(self, client: KiwoomClient, salvo: Salvo, price: int) -> None:
        self.written_by_leader: bool | None = None
        self.back_at = 0.0
        self.error: BaseException | None = None
        self.ord_no = ""

        def ready(prepared: Prepared | None) -> None:
            assert prepared is not None
            salvo.join(prepared)
            self.written_by_leader = prepared.written
            self.back_at = time.time()

        def run() -> None:
            try:
                self.ord_no = client.place("005930", "buy", 1, price, "limit", ready=ready).ord_no
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run)


def fire(shots: list[Shot], stagger: float = 0.0) -> None:
    for shot in shots:
        shot.thread.start()
        time.sleep(stagger)
    for shot in shots:
        shot.thread.join(10)
    assert [s.error for s in shots] == [None] * len(shots)


def volley(url: str, n: int, wait: Callable[[], None], **client_kw: object) -> list[Shot]:
    """`n` orders through one salvo, each from its own thread; what each saw."""
    with make_client(url, **client_kw) as client:
        client.token()
        salvo = Salvo(wait)
        shots = [Shot(client, salvo, 69_000 - 100 * k) for k in range(n)]
        fire(shots)
    return shots


def test_the_leader_writes_every_ready_order_at_the_instant(
    sim: Simulator, server: SimServer
) -> None:
    # A second, so that five threads get ready in time on a loaded machine.
    target = time.time() + 1.0
    shots = volley(server.url, 5, sleep_until(target))
    assert [s.written_by_leader for s in shots] == [True] * 5
    assert min(s.back_at for s in shots) >= target
    assert arrived(sim, "kt10000") == 5
    assert len({s.ord_no for s in shots}) == 5


def test_what_the_rate_limit_holds_back_its_own_thread_sends(
    sim: Simulator, server: SimServer
) -> None:
    limits = RateLimits(per_api={"kt10000": Rate(per_second=20, burst=2)})
    target = time.time() + 1.0
    shots = volley(server.url, 5, sleep_until(target), rate_limits=limits)
    # The leader writes at most what the bucket holds (2); the rest, held back, go from
    # their own threads. (On a loaded machine a shot may join after the instant and send
    # on its own: fewer than 2 are then the leader's, never more.)
    by_leader = sum(bool(s.written_by_leader) for s in shots)
    assert 1 <= by_leader <= 2, [s.written_by_leader for s in shots]
    assert min(s.back_at for s in shots) >= target
    assert arrived(sim, "kt10000") == 5


def test_a_late_joiner_sends_on_its_own_after_the_instant(
    sim: Simulator, server: SimServer
) -> None:
    with make_client(server.url) as client:
        client.token()
        target = time.time() + 0.2
        salvo = Salvo(sleep_until(target))
        first, late = Shot(client, salvo, 69_000), Shot(client, salvo, 68_900)
        fire([first])
        fire([late])
    assert (first.written_by_leader, late.written_by_leader) == (True, False)
    assert late.back_at >= target
    assert arrived(sim, "kt10000") == 2


def test_when_the_leader_cannot_wait_the_others_wait_for_themselves(
    sim: Simulator, server: SimServer
) -> None:
    target = time.time() + 0.3
    calls: list[int] = []

    def wait() -> None:
        calls.append(1)
        if len(calls) == 1:  # the leader's own wait fails at once
            raise KeyboardInterrupt
        sleep_until(target)()

    with make_client(server.url) as client:
        client.token()
        salvo = Salvo(wait)
        leader = Shot(client, salvo, 69_000)
        leader.thread.start()
        leader.thread.join(5)
        assert isinstance(leader.error, KeyboardInterrupt)
        others = [Shot(client, salvo, 68_900 - 100 * k) for k in range(2)]
        fire(others)
    assert [s.written_by_leader for s in others] == [False, False]
    assert min(s.back_at for s in others) >= target
    assert arrived(sim, "kt10000") == 2


def test_connections_closed_during_the_wait_are_reopened_by_their_own_threads(
    sim: Simulator, server: SimServer
) -> None:
    # Reconnecting is slow (TCP, TLS): the leader leaves it to each request's own thread
    # rather than holding up the rest of the salvo.
    target = time.time() + 0.3

    def wait() -> None:
        time.sleep(0.15)
        server._server.close_connections()
        sleep_until(target)()

    shots = volley(server.url, 3, wait)
    assert [s.written_by_leader for s in shots] == [False] * 3
    assert min(s.back_at for s in shots) >= target
    assert arrived(sim, "kt10000") == 3
