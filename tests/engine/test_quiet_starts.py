"""Early starts keep clear of other instants, so a job's checks never run while another
job's order is being sent."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from planrunner.engine.runner import quiet_starts

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
LEAD = dt.timedelta(milliseconds=200)
BEFORE = dt.timedelta(milliseconds=20)
AFTER = dt.timedelta(milliseconds=5)


def ms(n: float) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=n)


def test_a_start_on_another_instant_moves_before_its_window() -> None:
    # 100 ms apart: the third job's start (at 200 - 200 = 0) would land on the first's instant.
    starts = quiet_starts([ms(0), ms(100), ms(200)], LEAD, BEFORE, AFTER)
    assert starts[ms(0)] == ms(-200)
    assert starts[ms(100)] == ms(-100)
    assert starts[ms(200)] == ms(-20)  # clear of the instant at 0 (and of -100's window)


def test_lone_instants_keep_the_lead() -> None:
    starts = quiet_starts([ms(0), ms(1000), ms(1000)], LEAD, BEFORE, AFTER)
    assert starts == {ms(0): ms(-200), ms(1000): ms(800)}


def test_no_quiet_slot_within_twice_the_lead_keeps_the_lead() -> None:
    # An instant every 10 ms: no start can avoid them all.
    instants = [ms(10 * k) for k in range(100)]
    starts = quiet_starts(instants, LEAD, BEFORE, AFTER)
    assert starts[ms(500)] == ms(300)


@given(st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=40))
def test_every_start_is_early_enough_and_clear_when_moved(offsets: list[int]) -> None:
    instants = [ms(n) for n in offsets]
    starts = quiet_starts(instants, LEAD, BEFORE, AFTER)
    assert set(starts) == set(instants)
    for at, start in starts.items():
        assert at - 2 * LEAD <= start <= at - LEAD
        if start != at - LEAD:  # moved: then it is clear of every other instant
            assert all(not (t - BEFORE < start < t + AFTER) for t in instants if t != at)
