"""The rehearsal's clock can be held at an instant: it stands there until every hold is
released, then goes on from it (the time it stood still is not skipped). The real and the
manual clock ignore holds."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from planrunner.clock import SEOUL, ManualClock, RealClock, VirtualClock
from planrunner.engine.execute import wait_for_instant
from tests.support.rehearsal import until

START = dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL)
HOUR = dt.timedelta(hours=1)
SPEED = 100_000.0  # an hour of the day in 36 ms


def _standing(clock: VirtualClock, held: dt.datetime) -> None:
    """The clock has reached `held` and stays there while real time passes."""
    until(lambda: clock.now() >= held)
    t0 = time.time()
    until(lambda: time.time() - t0 > 0.02)  # 2,000 virtual seconds
    assert clock.now() == held


def test_time_stands_at_a_held_instant_and_goes_on_from_it():
    clock = VirtualClock(START, SPEED)
    held = clock.hold(START + HOUR)
    assert held >= START + HOUR  # later only if this thread ran late: never in the past
    _standing(clock, held)
    assert clock.real_of(held + HOUR).timestamp() > time.time()  # not come yet
    released = time.time()
    clock.release(held)
    after, now = clock.now(), time.time()
    # It goes on from the held instant: only what passed since the release is added.
    assert held <= after <= held + dt.timedelta(seconds=(now - released) * SPEED + 1)
    until(lambda: clock.now() > held + HOUR)


def test_holds_count_and_the_earliest_stops_the_clock():
    clock = VirtualClock(START, SPEED)
    first = clock.hold(START + HOUR)
    again = clock.hold(first)  # two jobs due at one instant
    later = clock.hold(first + HOUR)
    assert again == first
    _standing(clock, first)
    clock.release(first)
    _standing(clock, first)  # one hold of it is left
    clock.release(again)
    _standing(clock, later)  # on to the next held instant, not past it
    clock.release(later)
    until(lambda: clock.now() > later)


def test_a_hold_on_a_passed_instant_holds_now_and_time_never_goes_back():
    clock = VirtualClock(START, 1.0, real_start=time.time() - 600)  # ten minutes in
    before = clock.now()
    held = clock.hold(START)
    assert held >= before >= START + dt.timedelta(minutes=10)
    assert before <= clock.now() <= held
    clock.release(held)
    assert clock.now() >= held


def test_releasing_an_instant_not_held_is_a_bug_said_aloud():
    clock = VirtualClock(START, SPEED)
    held = clock.hold(START + HOUR)
    clock.release(held)
    with pytest.raises(ValueError, match="is not held"):
        clock.release(held)


def test_a_wait_for_an_instant_past_a_held_one_lasts_until_the_release():
    clock = VirtualClock(START, SPEED)
    held = clock.hold(START + HOUR)
    when = held + dt.timedelta(seconds=1)
    seen: list[dt.datetime] = []

    def wait() -> None:
        wait_for_instant(clock, when)
        seen.append(clock.now())

    waiter = threading.Thread(target=wait)
    waiter.start()
    _standing(clock, held)
    assert seen == []  # still waiting: the instant has not come on the rehearsal's clock
    clock.release(held)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert seen and seen[0] >= when


@pytest.mark.parametrize("clock", [RealClock(), ManualClock(START)], ids=["real", "manual"])
def test_the_real_and_the_manual_clock_ignore_holds(clock: RealClock | ManualClock):
    before = clock.now()
    held = clock.hold(before)
    if isinstance(clock, ManualClock):
        clock.advance(3600)
    else:
        until(lambda: clock.now() > held)
    assert clock.now() > held
    clock.release(held)
    clock.release(held)  # nothing is counted: nothing to get wrong
