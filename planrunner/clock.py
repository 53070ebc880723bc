"""Clocks. The runner, the simulator and the trigger watchers take one as an argument.

A VirtualClock runs the plan's day compressed: `speed` virtual seconds pass per real
second. `real_of` maps a virtual instant to the real wall-clock instant at which it
happens, which is when APScheduler must fire the job.

A rehearsal's clock can be held at an instant (`hold`): it does not pass it until every
hold there is released, and then goes on from it. A job due at 09:30 holds 09:30 until its
request leaves, so a loaded machine that gives the job its CPU late makes the rehearsal
slower, not the request late on the scenario's prices (which the real day would not do).
The real clock (and the manual one) ignore holds: time does not wait for a live run.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter
from typing import Protocol
from zoneinfo import ZoneInfo

# Every time planrunner reasons about is Korea time, whatever the machine's zone.
SEOUL = ZoneInfo("Asia/Seoul")

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> dt.timedelta:
    """`500ms`, `30s`, `5m`, `1h` (the plan's and the scenario's one form); ValueError
    saying the form otherwise. An offset's `+` is the caller's to strip."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"bad duration {text!r}: use 500ms, 30s, 5m or 1h")
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def real_of(self, when: dt.datetime) -> dt.datetime: ...

    def virtual_seconds(self, real_seconds: float) -> float: ...

    def hold(self, at: dt.datetime) -> dt.datetime:
        """Time does not pass `at` until released; returns the instant to release."""
        ...

    def release(self, held: dt.datetime) -> None: ...


class _NoHold:
    """Holds are for a rehearsal's clock: real time waits for nobody."""

    def hold(self, at: dt.datetime) -> dt.datetime:
        return at

    def release(self, held: dt.datetime) -> None:
        return None


class RealClock(_NoHold):
    def now(self) -> dt.datetime:
        return dt.datetime.now(SEOUL)

    def real_of(self, when: dt.datetime) -> dt.datetime:
        return when

    def virtual_seconds(self, real_seconds: float) -> float:
        return real_seconds


class VirtualClock:
    def __init__(self, start: dt.datetime, speed: float, *, real_start: float | None = None):
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.real_start = time.time() if real_start is None else real_start
        self._held: Counter[dt.datetime] = Counter()  # instant -> holds not yet released
        self._floor = start  # where the last release left it: time never goes back
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Re-anchor: the virtual clock stands at `start` again from this real instant
        (a rehearsal begins after its set-up, not during it)."""
        with self._lock:
            self.real_start = time.time()
            self._floor = self.start

    def _running(self, real: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(real - self.real_start) * self.speed)

    def _now(self, real: float) -> dt.datetime:
        running = max(self._running(real), self._floor)
        return min(running, min(self._held)) if self._held else running

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now(time.time())

    def real_of(self, when: dt.datetime) -> dt.datetime:
        with self._lock:
            real = time.time()
            stop = min(self._held) if self._held else None
            if stop is not None and when > stop and self._running(real) > stop:
                # Standing at a held instant: `when` comes at the earliest this long after
                # a release now (callers waiting for it ask again).
                return dt.datetime.fromtimestamp(
                    real + (when - stop).total_seconds() / self.speed, tz=SEOUL
                )
            seconds = (when - self.start).total_seconds() / self.speed
            return dt.datetime.fromtimestamp(self.real_start + seconds, tz=SEOUL)

    def hold(self, at: dt.datetime) -> dt.datetime:
        """Time will not pass `at` (or now, if `at` has passed: it never goes back) until
        this hold is released. Holds count: an instant held twice needs two releases."""
        with self._lock:
            held = max(at, self._now(time.time()))
            self._held[held] += 1
            return held

    def release(self, held: dt.datetime) -> None:
        """Release one hold of `held` (the instant `hold` returned). A clock that stood at
        it goes on from it: the time it stood still is not skipped."""
        with self._lock:
            if self._held[held] <= 0:
                raise ValueError(f"{held.isoformat()} is not held")
            real = time.time()
            stop = min(self._held)
            self._held[held] -= 1
            if not self._held[held]:
                del self._held[held]
            if self._running(real) > stop:
                self.real_start = real - (stop - self.start).total_seconds() / self.speed
                self._floor = stop

    def virtual_seconds(self, real_seconds: float) -> float:
        return real_seconds * self.speed


class ManualClock(_NoHold):
    """A clock tests move by hand."""

    def __init__(self, start: dt.datetime):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, seconds: float) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now

    def real_of(self, when: dt.datetime) -> dt.datetime:
        return when

    def virtual_seconds(self, real_seconds: float) -> float:
        return real_seconds
