"""KRX trading days and session hours, in Asia/Seoul.

Holidays come from the `holidays` package (XKRX financial calendar), through a file of its
answers per year (data/krx_holidays.json, see `_cached_years`); a year the file lacks, or
another installed version, imports the package itself. `exchange-calendars` was rejected
(slow start through pandas, wrong on the 2026 rule changes and exam days).
Session hours are data (planrunner/data/sessions.yaml): regimes in force from a date per
venue, and special days (exam days by date; the year's first trading day by rule), each
with its source. A user calendar file named by PLANRUNNER_CALENDAR adds or overrides
entries and can switch on a regime that is only announced. docs/market-rules.md.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any

from planrunner import package_text
from planrunner.clock import SEOUL as SEOUL  # re-exported: days.SEOUL

HOLIDAY_FILE = "data/krx_holidays.json"


def _installed_holidays_version() -> str | None:
    """The installed `holidays` version, read from its metadata directory name.

    Cheaper than importlib.metadata (a directory listing, no import); None when the
    package is installed some other way, and then the package itself is asked.
    """
    import importlib.util

    spec = importlib.util.find_spec("holidays")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = os.path.dirname(os.path.abspath(next(iter(spec.submodule_search_locations))))
    try:
        names = os.listdir(site)
    except OSError:
        return None
    for name in names:
        if name.startswith("holidays-") and name.endswith(".dist-info"):
            return name[len("holidays-") : -len(".dist-info")]
    return None


@cache
def _cached_years() -> dict[int, dict[dt.date, str]]:
    """The holiday file's years, when the installed `holidays` is the version that wrote it.

    planrunner/data/krx_holidays.json holds `holidays.financial_holidays("XKRX")` for a
    range of years (tests/support/holiday_data.py writes it; a test compares it with the
    package). With another version installed the file is not trusted: {} and the
    package answers.
    """
    import json

    raw = json.loads(package_text(HOLIDAY_FILE))
    if raw.get("holidays_version") != _installed_holidays_version():
        return {}
    return {
        int(year): {dt.date.fromisoformat(d): str(name) for d, name in days.items()}
        for year, days in raw["years"].items()
    }


@lru_cache(maxsize=32)
def _calendar(year: int) -> dict[dt.date, str]:
    """{day: name} of the XKRX holidays of one year, as `holidays.financial_holidays`."""
    cached = _cached_years().get(year)
    if cached is not None:
        return cached
    import holidays  # a year the file lacks, or another version installed: ~0.5-1 s

    cal = holidays.financial_holidays("XKRX", years=[year])
    return {day: str(cal.get(day)) for day in sorted(cal)}


def holiday_name(day: dt.date) -> str | None:
    return _calendar(day.year).get(day)


def is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _calendar(day.year)


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


# ---- sessions as data (planrunner/data/sessions.yaml, plus a user calendar file) --------

CALENDAR_ENV = "PLANRUNNER_CALENDAR"
WINDOW_NAMES = {
    "pre_market": "pre-market",
    "pre_open": "pre-open auction",
    "regular": "regular session",
    "closing_auction": "closing auction",
    "after_hours_open": "pre-open after-hours",
    "after_hours_close": "post-close after-hours",
    "after_hours_single": "after-hours single price",
    "after_market": "after-market",
    "main": "main market",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Regime:
    id: str
    venue: str
    start: dt.date
    windows: dict[str, tuple[dt.time, dt.time] | None]
    source: str
    announced: bool = False  # announced, not confirmed: applied only when switched on


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecialDay:
    day: dt.date
    kind: str
    name: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    regimes: tuple[Regime, ...]
    kinds: dict[str, dict[str, Any]]
    special: dict[dt.date, SpecialDay]
    applied: frozenset[str]  # ids of announced regimes switched on

    def regime(self, venue: str, day: dt.date) -> Regime:
        live = [
            r
            for r in self.regimes
            if r.venue == venue and r.start <= day and (not r.announced or r.id in self.applied)
        ]
        if not live:
            raise ValueError(f"no {venue} session rules for {day.isoformat()}")
        return max(live, key=lambda r: r.start)


def _time(text: object) -> dt.time:
    return dt.time.fromisoformat(str(text))


def _parse_calendar(
    raw: dict[str, Any], where: str
) -> tuple[list[Regime], dict[str, Any], list[SpecialDay], list[str]]:
    regimes: list[Regime] = []
    for venue, entries in (raw.get("regimes") or {}).items():
        for i, entry in enumerate(entries or []):
            windows: dict[str, tuple[dt.time, dt.time] | None] = {}
            for name, pair in (entry.get("windows") or {}).items():
                if name not in WINDOW_NAMES:
                    raise ValueError(f"{where}: regimes.{venue}[{i}]: unknown window {name!r}")
                windows[name] = None if pair is None else (_time(pair[0]), _time(pair[1]))
            regimes.append(
                Regime(
                    id=str(entry.get("id", f"{venue}-{entry['from']}")),
                    venue=str(venue),
                    start=dt.date.fromisoformat(str(entry["from"])),
                    windows=windows,
                    source=str(entry.get("source", where)),
                    announced=entry.get("status") == "announced",
                )
            )
    kinds = dict(raw.get("special_kinds") or {})
    special = [
        SpecialDay(
            day=dt.date.fromisoformat(str(d["date"])),
            kind=str(d["kind"]),
            name=str(d.get("name", "")),
            source=str(d.get("source", where)),
        )
        for d in raw.get("days") or []
    ]
    return regimes, kinds, special, [str(x) for x in raw.get("apply_announced") or []]


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
    data = yaml.load(text, Loader=loader) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    return data


def _read_user_yaml(path: str) -> dict[str, Any]:
    """The user's calendar file, read as a plan is (planrunner/yamlfile.py: times and
    dates stay strings, duplicate keys and tags beyond plain data refused, bounded); a
    mistake in the YAML is a UsageError naming file:line:col."""
    from planrunner.errors import UsageError
    from planrunner.yamlfile import load_text, read_bounded

    try:
        text = read_bounded(path, what="calendar").decode("utf-8")
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"cannot read calendar file {path}: {e}") from None
    loaded = load_text(text, path, what="calendar", allow_empty=True)
    if loaded.problems:
        first = loaded.problems[0]
        raise UsageError(f"{first.file}:{first.line}:{first.col}: {first.message}")
    data = loaded.data or {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping")
    return data


@lru_cache(maxsize=4)
def _calendar_for(user_file: str | None) -> Calendar:
    text = package_text("data/sessions.yaml")
    regimes, kinds, special, applied = _parse_calendar(
        _read_yaml(text, "sessions.yaml"), "built-in"
    )
    if user_file:
        from planrunner.errors import UsageError

        try:
            u_regimes, u_kinds, u_special, u_applied = _parse_calendar(
                _read_user_yaml(user_file), user_file
            )
        except OSError as e:
            raise UsageError(f"cannot read calendar file {user_file}: {e.strerror}") from None
        except UsageError:
            raise
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise UsageError(f"calendar file {user_file}: {e}") from None
        regimes += u_regimes
        kinds |= u_kinds
        special = [d for d in special if d.day not in {u.day for u in u_special}] + u_special
        applied += u_applied
    for i, d in enumerate(special):
        if d.kind not in kinds:
            raise ValueError(f"special day {d.day.isoformat()}: unknown kind {d.kind!r}")
        if not d.name:
            special[i] = replace(d, name=str(kinds[d.kind].get("name", d.kind)))
    return Calendar(
        regimes=tuple(regimes),
        kinds=kinds,
        special={d.day: d for d in special},
        applied=frozenset(applied),
    )


def _user_file() -> str | None:
    return os.environ.get(CALENDAR_ENV) or None


def calendar() -> Calendar:
    """The session data in force: the built-in file plus the user's (PLANRUNNER_CALENDAR)."""
    return _calendar_for(_user_file())


def exam_days() -> frozenset[dt.date]:
    cal = calendar()
    return frozenset(d for d, s in cal.special.items() if s.kind == "exam")


def special_day(day: dt.date) -> SpecialDay | None:
    """The special day `day` is (an exam day, the year's first trading day), if any."""
    cal = calendar()
    known = cal.special.get(day)
    if known is not None:
        return known
    if is_trading_day(day) and day == first_trading_day_of_year(day.year):
        kind = cal.kinds["first_trading_day"]
        return SpecialDay(
            day=day, kind="first_trading_day", name=str(kind.get("name", "")), source="rule"
        )
    return None


def venue_windows(day: dt.date, venue: str) -> dict[str, Window]:
    """Every window of a venue on a day, by name, special days applied."""
    cal = calendar()
    regime = cal.regime(venue, day)
    special = special_day(day)
    rule: dict[str, Any] = (cal.kinds[special.kind].get(venue) or {}) if special else {}
    shift = int(rule.get("shift", 0))
    keep_end = set(rule.get("keep_end") or ())
    keep = set(rule.get("keep") or ())
    prefix = "NXT " if venue == "NXT" else ""
    out: dict[str, Window] = {}
    for name, pair in regime.windows.items():
        if pair is None:
            continue
        a, b = pair
        if name not in keep:
            a = _shift(a, shift)
            b = b if name in keep_end else _shift(b, shift)
        out[name] = Window(name=prefix + WINDOW_NAMES[name], start=a, end=b)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The hours of one trading day on KRX (windows a regime lacks are None)."""

    day: dt.date
    regular: Window  # continuous trading incl. the closing auction
    pre_open: Window | None = None  # 장전 동시호가: orders accepted for the open
    closing_auction: Window | None = None
    after_hours_open: Window | None = None  # 61 장시작전시간외 (previous close)
    after_hours_close: Window | None = None  # 81 장마감후시간외 (today's close)
    after_hours_single: Window | None = None  # 62 시간외단일가
    pre_market: Window | None = None
    after_market: Window | None = None
    special: SpecialDay | None = None

    @property
    def late(self) -> bool:
        return self.regular.start != dt.time(9, 0)

    def at(self, t: dt.time) -> dt.datetime:
        return dt.datetime.combine(self.day, t, tzinfo=SEOUL)


def session(day: dt.date) -> Session:
    """Session hours for a trading day (callers check is_trading_day first)."""
    return _session(day, _user_file())


@lru_cache(maxsize=256)
def _session(day: dt.date, user_file: str | None) -> Session:
    w = venue_windows(day, "KRX")
    return Session(
        day=day,
        regular=w["regular"],
        pre_open=w.get("pre_open"),
        closing_auction=w.get("closing_auction"),
        after_hours_open=w.get("after_hours_open"),
        after_hours_close=w.get("after_hours_close"),
        after_hours_single=w.get("after_hours_single"),
        pre_market=w.get("pre_market"),
        after_market=w.get("after_market"),
        special=special_day(day),
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
# Types the extended pre- and after-market take (limit orders only: unconfirmed).
EXTENDED_TYPES = frozenset({"limit"})


def _nxt(day: dt.date) -> tuple[Window, ...]:
    w = venue_windows(day, "NXT")
    return tuple(w[n] for n in ("pre_market", "main", "after_market") if n in w)


def windows_for(order_type: str, day: dt.date, exchange: str = "KRX") -> tuple[Window, ...]:
    """The windows of a trading day in which an order of this type is accepted."""
    return _windows_for(order_type, day, exchange, _user_file())


@lru_cache(maxsize=1024)
def _windows_for(
    order_type: str, day: dt.date, exchange: str, user_file: str | None
) -> tuple[Window, ...]:
    s = session(day)
    if order_type in AFTER_HOURS_TYPES:
        after = getattr(s, AFTER_HOURS_TYPES[order_type])
        return (after,) if after is not None else ()
    if exchange == "NXT":
        return _nxt(day)
    krx: tuple[Window, ...]
    if order_type in CONTINUOUS_ONLY:
        end = s.closing_auction.start if s.closing_auction else s.regular.end
        krx = (Window(name="regular session", start=s.regular.start, end=end),)
    else:
        krx = tuple(x for x in (s.pre_open, s.regular) if x is not None)
        if order_type in EXTENDED_TYPES:
            krx = tuple(x for x in (s.pre_market,) if x is not None) + krx
            krx += tuple(x for x in (s.after_market,) if x is not None)
    if exchange == "SOR":
        return krx + _nxt(day)
    return krx


def accepts(order_type: str, when: dt.datetime, exchange: str = "KRX") -> bool:
    local = when.astimezone(SEOUL)
    if not is_trading_day(local.date()):
        return False
    return any(w.contains(local.time()) for w in windows_for(order_type, local.date(), exchange))


def describe_windows(windows: tuple[Window, ...]) -> str:
    if not windows:
        return "none on this day"
    return ", ".join(
        f"{w.name} {w.start.isoformat('seconds')}-{w.end.isoformat('seconds')}" for w in windows
    )
