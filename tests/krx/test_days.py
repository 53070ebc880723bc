"""The KRX holiday calendar: the same days and names as `holidays.financial_holidays`,
loaded without importing every country (days._xkrx_class)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

YEARS = range(2021, 2028)


def _ours_in_a_fresh_interpreter() -> dict[str, object]:
    """calendar's view of 2021-2027, and which holidays modules stayed imported."""
    code = (
        "import datetime as dt, json, sys\n"
        "from planrunner.krx import days\n"
        f"years = range({YEARS.start}, {YEARS.stop})\n"
        "named = {str(y): {d.isoformat(): days.holiday_name(d)\n"
        "       for d in sorted(days._holidays(y))} for y in years}\n"
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
    # Nothing of the stand-in import is left for a later `import holidays` to trip on.
    assert ours["left"] == []


def test_same_answers_when_holidays_was_already_imported() -> None:
    import holidays

    from planrunner.krx import days

    days._xkrx_class.cache_clear()
    days._calendar.cache_clear()
    days._holidays.cache_clear()
    try:
        for y in YEARS:
            ref = holidays.financial_holidays("XKRX", years=[y])
            assert days._holidays(y) == frozenset(ref), y
            for d in ref:
                assert days.holiday_name(d) == str(ref.get(d)), d
    finally:
        days._xkrx_class.cache_clear()
        days._calendar.cache_clear()
        days._holidays.cache_clear()


def test_a_later_import_holidays_is_the_whole_real_package() -> None:
    code = (
        "import datetime as dt\n"
        "from planrunner.krx import days\n"
        "assert days.holiday_name(dt.date(2026, 1, 1))\n"
        "import holidays\n"
        "import holidays.countries, holidays.financial\n"
        "assert holidays.financial_holidays('XKRX', years=[2026])\n"
        "assert holidays.country_holidays('US', years=[2026])\n"
        "assert holidays.financial.korea_exchange.XKRX is holidays.XKRX.get_entity()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
