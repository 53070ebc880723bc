"""`calendar`: the market's days and hours as planrunner sees them (no network)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from planrunner.cli.options import FORMAT_OPTION, handled
from planrunner.errors import UsageError


def day_text(day: dt.date) -> str:
    """One day's sessions per venue and order type, or why it is closed."""
    from planrunner.krx import days

    head = f"{day.isoformat()} ({day.strftime('%A')})"
    if not days.is_trading_day(day):
        why = days.holiday_name(day) or "weekend"
        return f"{head}: closed — {why}\n"
    lines = [f"{head}: trading day"]
    special = days.special_day(day)
    if special is not None:
        lines.append(f"  special: {special.name} (source: {special.source})")
    for venue in ("KRX", "NXT"):
        regime = days.calendar().regime(venue, day)
        lines.append(f"  {venue} (rules {regime.id}, from {regime.start.isoformat()}):")
        windows = sorted(days.venue_windows(day, venue).items(), key=lambda nw: nw[1].start)
        for name, w in windows:
            span = f"{w.start.isoformat('seconds')}-{w.end.isoformat('seconds')}"
            kinds = " — every type NXT takes" if venue == "NXT" else _types(name)
            lines.append(f"    {span}  {w.name}{kinds}")
    return "\n".join(lines) + "\n"


_TYPES = {
    "pre_open": "all types but continuous-only ones",
    "regular": "all types (continuous-only ones until the closing auction)",
    "after_hours_open": "after_hours_open (61)",
    "after_hours_close": "after_hours_close (81)",
    "after_hours_single": "after_hours_single (62), ±10% of the close",
    "pre_market": "limit",
    "after_market": "limit",
    "main": "all types",
}


def _types(name: str) -> str:
    text = _TYPES.get(name)
    return f" — {text}" if text else ""


def day_data(day: dt.date) -> dict[str, Any]:
    from planrunner.krx import days

    out: dict[str, Any] = {"date": day.isoformat(), "trading": days.is_trading_day(day)}
    if not out["trading"]:
        out["closed"] = days.holiday_name(day) or "weekend"
        return out
    special = days.special_day(day)
    out["special"] = None
    if special is not None:
        out["special"] = {"kind": special.kind, "name": special.name, "source": special.source}
    venues: dict[str, Any] = {}
    for venue in ("KRX", "NXT"):
        regime = days.calendar().regime(venue, day)
        venues[venue] = {
            "rules": regime.id,
            "from": regime.start.isoformat(),
            "windows": [
                {
                    "window": name,
                    "name": w.name,
                    "start": w.start.isoformat("seconds"),
                    "end": w.end.isoformat("seconds"),
                    "types": "every type NXT takes" if venue == "NXT" else _TYPES.get(name, ""),
                }
                for name, w in sorted(
                    days.venue_windows(day, venue).items(), key=lambda nw: nw[1].start
                )
            ],
        }
    out["venues"] = venues
    return out


def year_data(year: int) -> dict[str, Any]:
    from planrunner.krx import days

    closed, special = [], []
    d = dt.date(year, 1, 1)
    while d.year == year:
        if d.weekday() < 5 and not days.is_trading_day(d):
            closed.append({"date": d.isoformat(), "name": days.holiday_name(d)})
        elif days.is_trading_day(d) and (s := days.special_day(d)) is not None:
            opens = days.session(d).regular.start.isoformat("minutes")
            special.append({"date": d.isoformat(), "kind": s.kind, "name": s.name, "opens": opens})
        d += dt.timedelta(days=1)
    return {"year": year, "closed": closed, "special": special}


def year_text(year: int) -> str:
    """The year's closed weekdays with their names and its special session days."""
    from planrunner.krx import days

    lines = [f"{year}: closed days (weekdays)"]
    d = dt.date(year, 1, 1)
    special: list[str] = []
    while d.year == year:
        if d.weekday() < 5 and not days.is_trading_day(d):
            lines.append(f"  {d.isoformat()} {d.strftime('%a')}  {days.holiday_name(d)}")
        elif days.is_trading_day(d) and (s := days.special_day(d)) is not None:
            open_at = days.session(d).regular.start.isoformat("minutes")
            special.append(f"  {d.isoformat()} {d.strftime('%a')}  {s.name}: opens {open_at}")
        d += dt.timedelta(days=1)
    lines.append(f"{year}: special session days")
    lines += special or ["  none"]
    if year not in {x.year for x in days.exam_days()}:
        lines.append(f"  warning: no exam-day entry for {year}: add it to a calendar file")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("when", metavar="[DATE|YEAR]", required=False)
@FORMAT_OPTION
@handled
def calendar(when: str | None, fmt: str) -> None:
    """A day's sessions per venue and order type (DATE, default today in Seoul), or a
    year's closed days with their names and its special session days (YEAR)."""
    from planrunner.krx import days

    as_json = fmt == "json"
    if when is not None and when.isdigit() and len(when) == 4:
        year = int(when)
        if as_json:
            click.echo(json.dumps(year_data(year), ensure_ascii=False, indent=2))
        else:
            click.echo(year_text(year), nl=False)
        return
    try:
        day = days.today_seoul() if when is None else dt.date.fromisoformat(when)
    except ValueError:
        raise UsageError(f"expected YYYY-MM-DD or YYYY, not {when!r}") from None
    if as_json:
        click.echo(json.dumps(day_data(day), ensure_ascii=False, indent=2))
    else:
        click.echo(day_text(day), nl=False)


COMMANDS = (calendar,)
