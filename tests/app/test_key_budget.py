"""The app key's lock carries the key's spent rate budget from one run to the next: the
broker counts a key's requests, whichever process sent them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from planrunner.app.several import KeyBusy, KeyHold, hold_key, key_file
from planrunner.kiwoom.ratelimit import RateLimiter, RateLimits

KEY = "loopback-appkey-budget"


class Ticks:
    """The limiter's own clock: sleeping moves it, nothing waits for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def _limiter(hold: KeyHold, ticks: Ticks) -> RateLimiter:
    limiter = RateLimiter(RateLimits.for_env("mock"), monotonic=ticks.monotonic, sleep=ticks.sleep)
    hold.take_over(limiter)
    return limiter


def test_a_run_right_after_another_on_the_key_starts_from_its_spent_budget(tmp_path: Path):
    plan = tmp_path / "a.yaml"
    with hold_key(tmp_path, "mock", KEY, [plan]) as hold:
        assert hold.owed == {}  # the first run on the key
        first = _limiter(hold, Ticks())
        assert [first.acquire("ka10075") for _ in range(2)] == [0.0, 0.0]  # its burst
    with hold_key(tmp_path, "mock", KEY, [plan]) as hold:
        assert 1.0 < hold.owed["ka10075"] <= 2.0  # the bucket refills at 1/s
        ticks = Ticks()
        second = _limiter(hold, ticks)
        second.acquire("ka10075")
        second.acquire("ka10075")
        assert ticks.slept > 0.5  # not the whole burst at once
        assert second.acquire("kt10000") == 0.0  # another api-id owes nothing
    # another key, or another environment of the same key, is another budget
    with hold_key(tmp_path, "live", KEY, [plan]) as hold:
        assert hold.owed == {}
    kept = key_file(tmp_path, "mock", KEY).read_text(encoding="utf-8")
    assert KEY not in kept and json.loads(kept)["owed"]["ka10075"] > 1.0


def test_an_old_or_unreadable_note_owes_nothing(tmp_path: Path):
    path = key_file(tmp_path, "mock", KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 1, "ended": time.time() - 61, "owed": {"ka10075": 2}}))
    with hold_key(tmp_path, "mock", KEY, []) as hold:
        assert hold.owed == {}  # refilled long since
    for junk in ("not json", "[1, 2]", '{"ended": "x", "owed": {"ka10075": 2}}'):
        path.write_text(junk)
        with hold_key(tmp_path, "mock", KEY, []) as hold:
            assert hold.owed == {}
    path.write_text(json.dumps({"ended": time.time() + 5, "owed": {"ka10075": 1.5, "x": "y"}}))
    with hold_key(tmp_path, "mock", KEY, []) as hold:  # a clock set back: no time passed
        assert hold.owed == {"ka10075": 1.5}


def test_a_note_no_run_of_ours_wrote_never_stops_a_run(tmp_path: Path):
    """The lock's note is read before anything else: whatever it holds (numbers past a
    float, nesting past the parser's depth, fields of another shape) costs at most the
    carried budget, never the run (a crash would stop every run on the key until the
    file is deleted by hand)."""
    path = key_file(tmp_path, "mock", KEY)
    path.parent.mkdir(parents=True)
    now = int(time.time())
    for junk in (
        '{"ended": 1' + "0" * 400 + ', "owed": {"ka10075": 1}}',
        '{"ended": ' + str(now) + ', "owed": {"ka10075": 1' + "0" * 400 + "}}",
        "[" * 40000 + "]" * 40000,
        '{"ended": NaN, "owed": {"ka10075": 1.5}}',
    ):
        path.write_text(junk)
        with hold_key(tmp_path, "mock", KEY, []) as hold:
            assert hold.owed == {}, junk[:80]
    plan = tmp_path / "a.yaml"
    with hold_key(tmp_path, "mock", KEY, [plan]):
        for other in ('{"pid": 7, "plans": 7}', '{"pid": [1], "plans": "abc"}'):
            path.write_text(other)  # the holder's note, as some other program left it
            with pytest.raises(KeyBusy) as busy, hold_key(tmp_path, "mock", KEY, [plan]):
                pass
            assert str(plan) in str(busy.value) and "(a, b, c)" not in str(busy.value)


def test_a_run_that_ends_before_its_client_passes_the_budget_on(tmp_path: Path):
    """Run A stops (Ctrl-C) after a burst; run B starts at once and ends before it built
    its client (a plan error, a refused check): the broker still counts A's burst, so
    run C, started right after B, must still start from it. And a client built a while
    after the lock was taken (a confirmation prompt) owes only what is left by then."""
    path = key_file(tmp_path, "mock", KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 1, "ended": time.time(), "owed": {"ka10075": 1.9}}))
    with hold_key(tmp_path, "mock", KEY, []) as hold:  # run B: no client
        assert 0.9 < hold.owed["ka10075"] <= 1.9
    with hold_key(tmp_path, "mock", KEY, []) as hold:  # run C
        assert 0.9 < hold.owed.get("ka10075", 0.0) <= 1.9, hold.owed
        time.sleep(0.6)  # at the prompt: the broker's bucket refills meanwhile
        ticks = Ticks()
        limiter = _limiter(hold, ticks)
        assert limiter.owed()["ka10075"] <= 1.3 + 1e-6, limiter.owed()
