"""KRX trading days and session hours, in Asia/Seoul.

Holidays come from the `holidays` package (XKRX financial calendar), imported lazily, and
only the two calendars KRX needs (see `_xkrx_class`). `exchange-calendars` was rejected
(slow start through pandas, wrong on the 2026 rule changes and exam days).
Late opens are our own small rule: the first trading day of a year opens at 10:00, and
college-entrance-exam days run one hour late all day (10:00-16:30).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import types
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from planrunner.clock import SEOUL as SEOUL  # re-exported: days.SEOUL

# 수능 (college scholastic ability test) days: the market opens and closes an hour late.
EXAM_DAYS: frozenset[dt.date] = frozenset(
    dt.date.fromisoformat(d)
    for d in (
        "2021-11-18",
        "2022-11-17",
        "2023-11-16",
        "2024-11-14",
        "2025-11-13",
        "2026-11-19",
    )
)


_XKRX_LOCK = threading.Lock()


@cache
def _xkrx_class() -> Any:
    """The `holidays` XKRX calendar class, without importing every country and market.

    `holidays.financial_holidays("XKRX")` imports the packages `holidays.countries` and
    `holidays.financial`, whose `__init__` modules import all ~250 calendars (~150 ms).
    KRX needs two of them. So, unless `holidays` is already imported, its three packages
    are stood in for by empty ones while `holidays.financial.korea_exchange` and what it
    imports load from the real files; then every `holidays*` entry this added leaves
    `sys.modules` again, so a later `import holidays` anywhere gets the whole, real
    package. The class is the same code `financial_holidays("XKRX")` instantiates
    (tests/test_calendar.py compares the two for every year we support).
    """
    with _XKRX_LOCK:
        if "holidays" in sys.modules:
            from holidays.financial.korea_exchange import XKRX

            return XKRX
        import importlib.util

        spec = importlib.util.find_spec("holidays")
        if spec is None or spec.submodule_search_locations is None:
            raise ModuleNotFoundError("No module named 'holidays'", name="holidays")
        root = list(spec.submodule_search_locations)
        before = set(sys.modules)
        try:
            for name, sub in (
                ("holidays", ""),
                ("holidays.countries", "countries"),
                ("holidays.financial", "financial"),
            ):
                stand_in = types.ModuleType(name)
                stand_in.__path__ = [os.path.join(p, sub) if sub else p for p in root]
                sys.modules[name] = stand_in
            module = importlib.import_module("holidays.financial.korea_exchange")
        finally:
            for name in set(sys.modules) - before:
                if name == "holidays" or name.startswith("holidays."):
                    del sys.modules[name]
        return module.XKRX


@lru_cache(maxsize=32)
def _calendar(year: int) -> dict[dt.date, str]:
    """{day: name} of the XKRX holidays of one year, as `holidays.financial_holidays`."""
    # Same arguments as holidays.financial_holidays("XKRX", years=[year]) passes.
    cal = _xkrx_class()(
        years=[year], subdiv=None, expand=True, observed=True, language=None, categories=None
    )
    return {day: str(name) for day, name in cal.items()}


@lru_cache(maxsize=32)
def _holidays(year: int) -> frozenset[dt.date]:
    return frozenset(_calendar(year))


def holiday_name(day: dt.date) -> str | None:
    if day not in _holidays(day.year):
        return None
    return _calendar(day.year)[day]


def is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_trading_day(day: dt.date, *, include: bool = True) -> dt.date:
    d = day if include else day + dt.timedelta(days=1)
    while not is_trading_day(d):
        d += dt.timedelta(days=1)
    return d


def first_trading_day_of_year(year: int) -> dt.date:
    return next_trading_day(dt.date(year, 1, 1))


def today_seoul(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(SEOUL)).astimezone(SEOUL).date()


def default_plan_date(now: dt.datetime | None = None) -> dt.date:
    """Today if it is a KRX trading day, else the next one."""
    return next_trading_day(today_seoul(now))


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    name: str
    start: dt.time
    end: dt.time  # exclusive

    def contains(self, t: dt.time) -> bool:
        return self.start <= t < self.end


def _shift(t: dt.time, minutes: int) -> dt.time:
    base = dt.datetime.combine(dt.date(2000, 1, 1), t) + dt.timedelta(minutes=minutes)
    return base.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The hours of one trading day on KRX."""

    day: dt.date
    pre_open: Window  # 장전 동시호가: orders accepted for the open
    regular: Window  # continuous trading incl. the closing auction
    closing_auction: Window
    after_hours_open: Window  # 61 장시작전시간외 (previous close)
    after_hours_close: Window  # 81 장마감후시간외 (today's close)
    after_hours_single: Window  # 62 시간외단일가

    @property
    def late(self) -> bool:
        return self.regular.start != dt.time(9, 0)

    def at(self, t: dt.time) -> dt.datetime:
        return dt.datetime.combine(self.day, t, tzinfo=SEOUL)


def session(day: dt.date) -> Session:
    """Session hours for a trading day (callers check is_trading_day first)."""
    shift = 0
    close_shift = 0
    if day in EXAM_DAYS:
        shift = close_shift = 60
    elif day == first_trading_day_of_year(day.year):
        shift = 60

    def w(name: str, a: tuple[int, int], b: tuple[int, int], s: int) -> Window:
        return Window(name=name, start=_shift(dt.time(*a), s), end=_shift(dt.time(*b), s))

    return Session(
        day=day,
        pre_open=w("pre-open auction", (8, 30), (9, 0), shift),
        regular=w("regular session", (9, 0), (15, 30), 0)
        if shift == 0
        else Window(
            name="regular session",
            start=_shift(dt.time(9, 0), shift),
            end=_shift(dt.time(15, 30), close_shift),
        ),
        closing_auction=w("closing auction", (15, 20), (15, 30), close_shift),
        after_hours_open=w("pre-open after-hours", (8, 30), (8, 40), shift),
        after_hours_close=w("post-close after-hours", (15, 40), (16, 0), close_shift),
        after_hours_single=w("after-hours single price", (16, 0), (18, 0), close_shift),
    )


# Which windows accept which order types (plan vocabulary, see planrunner.model).
AFTER_HOURS_TYPES = {
    "after_hours_open": "after_hours_open",
    "after_hours_close": "after_hours_close",
    "after_hours_single": "after_hours_single",
}
# Types that only make sense in continuous trading (no auction phase).
CONTINUOUS_ONLY = frozenset(
    {
        "best",
        "priority",
        "limit_ioc",
        "market_ioc",
        "best_ioc",
        "limit_fok",
        "market_fok",
        "best_fok",
        "mid",
        "mid_ioc",
        "mid_fok",
        "stop_limit",
    }
)

# NXT (Nextrade) hours: pre-market, main market, after-market.
_NXT_WINDOWS = (
    Window(name="NXT pre-market", start=dt.time(8, 0), end=dt.time(8, 50)),
    Window(name="NXT main market", start=dt.time(9, 0, 30), end=dt.time(15, 20)),
    Window(name="NXT after-market", start=dt.time(15, 30), end=dt.time(20, 0)),
)


def windows_for(order_type: str, day: dt.date, exchange: str = "KRX") -> tuple[Window, ...]:
    """The windows of a trading day in which an order of this type is accepted."""
    s = session(day)
    if order_type in AFTER_HOURS_TYPES:
        return (getattr(s, AFTER_HOURS_TYPES[order_type]),)
    if exchange == "NXT":
        return _NXT_WINDOWS
    krx: tuple[Window, ...]
    if order_type in CONTINUOUS_ONLY:
        krx = (Window(name="regular session", start=s.regular.start, end=s.closing_auction.start),)
    else:
        krx = (s.pre_open, s.regular)
    if exchange == "SOR":
        return krx + _NXT_WINDOWS
    return krx


def accepts(order_type: str, when: dt.datetime, exchange: str = "KRX") -> bool:
    local = when.astimezone(SEOUL)
    if not is_trading_day(local.date()):
        return False
    return any(w.contains(local.time()) for w in windows_for(order_type, local.date(), exchange))


def describe_windows(windows: tuple[Window, ...]) -> str:
    return ", ".join(
        f"{w.name} {w.start.isoformat('seconds')}-{w.end.isoformat('seconds')}" for w in windows
    )
