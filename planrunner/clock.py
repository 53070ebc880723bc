"""Clocks. The runner, the simulator and the trigger watchers take one as an argument.

A VirtualClock runs the plan's day compressed: `speed` virtual seconds pass per real
second. `real_of` maps a virtual instant to the real wall-clock instant at which it
happens, which is when APScheduler must fire the job.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
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


class RealClock:
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

    def restart(self) -> None:
        """Re-anchor: the virtual clock stands at `start` again from this real instant
        (a rehearsal begins after its set-up, not during it)."""
        self.real_start = time.time()

    def now(self) -> dt.datetime:
        elapsed = (time.time() - self.real_start) * self.speed
        return self.start + dt.timedelta(seconds=elapsed)

    def real_of(self, when: dt.datetime) -> dt.datetime:
        seconds = (when - self.start).total_seconds() / self.speed
        return dt.datetime.fromtimestamp(self.real_start + seconds, tz=SEOUL)

    def virtual_seconds(self, real_seconds: float) -> float:
        return real_seconds * self.speed


class ManualClock:
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
