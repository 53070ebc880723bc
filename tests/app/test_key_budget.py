"""The app key's lock carries the key's spent rate budget from one run to the next: the
broker counts a key's requests, whichever process sent them."""

from __future__ import annotations

import json
import time
from pathlib import Path

from planrunner.app.several import KeyHold, hold_key, key_file
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
