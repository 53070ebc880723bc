"""The KRX holiday calendar: the same days and names as `holidays.financial_holidays`,
from the file of its answers (data/krx_holidays.json) or the package itself, and no
module replaced in `sys.modules` to get them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from importlib import metadata, resources

import pytest

from planrunner.krx import days
from tests.support import holiday_data

YEARS = range(2021, 2028)


def _ours_in_a_fresh_interpreter() -> dict[str, object]:
    """planrunner's view of 2021-2027, and whether it imported `holidays` to get it."""
    code = (
        "import datetime as dt, json, sys\n"
        "from planrunner.krx import days\n"
        f"years = range({YEARS.start}, {YEARS.stop})\n"
        "named = {str(y): {d.isoformat(): days.holiday_name(d)\n"
        "       for d in sorted(days._calendar(y))} for y in years}\n"
        "trading = {str(y): [days.is_trading_day(dt.date(y, 1, 1) + dt.timedelta(n))\n"
        "       for n in range(366)] for y in years}\n"
        "left = sorted(m for m in sys.modules if m.split('.')[0] == 'holidays')\n"
        "print(json.dumps({'days': named, 'trading': trading, 'left': left}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_same_holidays_and_names_as_financial_holidays_2021_2027() -> None:
    import holidays

    ours = _ours_in_a_fresh_interpreter()
    for y in YEARS:
        ref = holidays.financial_holidays("XKRX", years=[y])
        expected = {d.isoformat(): str(ref.get(d)) for d in sorted(ref)}
        assert ours["days"][str(y)] == expected, y  # type: ignore[index]
        start = dt.date(y, 1, 1)
        expected_trading = [
            (start + dt.timedelta(n)).weekday() < 5 and (start + dt.timedelta(n)) not in ref
            for n in range(366)
        ]
        assert ours["trading"][str(y)] == expected_trading, y  # type: ignore[index]


def test_issue15_item3_holiday_file_is_the_packages_answer() -> None:
    """The shipped file equals what the installed `holidays` says for 2021-2027, whatever
    version is installed (planrunner uses the file only with the version that wrote it);
    regenerate it with `python -m tests.support.holiday_data --write` when this fails."""
    shipped = json.loads(
        resources.files("planrunner").joinpath(days.HOLIDAY_FILE).read_text("utf-8")
    )
    fresh = json.loads(holiday_data.build())
    for year in map(str, YEARS):
        assert shipped["years"][year] == fresh["years"][year], year
    assert shipped["holidays_version"]


def test_issue15_item3_version_read_without_importing_holidays() -> None:
    assert days._installed_holidays_version() == metadata.version("holidays")


def test_issue15_item3_no_stand_in_modules_and_no_import_for_cached_years() -> None:
    """The calendar of a cached year imports nothing of `holidays`; a year outside the
    file imports the whole, real package (nothing stood in for in sys.modules)."""
    code = (
        "import datetime as dt, sys\n"
        "from planrunner.krx import days\n"
        "assert days.holiday_name(dt.date(2026, 1, 1))\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'holidays')\n"
        "assert days.is_trading_day(dt.date(2040, 1, 2)) is not None\n"
        "import holidays\n"
        "assert holidays.financial_holidays('XKRX', years=[2026])\n"
        "assert holidays.country_holidays('US', years=[2026])\n"
        "print(before, 'holidays.countries' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"


@pytest.mark.parametrize("year", [2019, 2031])
def test_issue15_item3_years_outside_the_file_come_from_the_package(year: int) -> None:
    import holidays

    ref = holidays.financial_holidays("XKRX", years=[year])
    days._calendar.cache_clear()
    assert year not in days._cached_years()
    assert set(days._calendar(year)) == set(ref)
    assert {d: days.holiday_name(d) for d in ref} == {d: str(ref.get(d)) for d in ref}


def test_issue15_item3_another_holidays_version_is_asked_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With another `holidays` installed than the one that wrote the file, the file is
    not used: the installed package is the source."""
    monkeypatch.setattr(days, "_installed_holidays_version", lambda: "0.0-other")
    days._cached_years.cache_clear()
    days._calendar.cache_clear()
    try:
        assert days._cached_years() == {}
        assert days.holiday_name(dt.date(2027, 5, 3)) == "Alternative holiday for Labor Day"
    finally:
        monkeypatch.undo()
        days._cached_years.cache_clear()
        days._calendar.cache_clear()


def test_issue15_item3_days_does_not_touch_sys_modules() -> None:
    import inspect

    assert "sys.modules" not in inspect.getsource(days)
