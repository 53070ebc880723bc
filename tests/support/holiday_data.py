"""planrunner/data/krx_holidays.json, generated from the `holidays` package.

    python -m tests.support.holiday_data          # print what the file should hold
    python -m tests.support.holiday_data --write  # rewrite the file

The file caches `holidays.financial_holidays("XKRX")` per year so that a command does not
pay for importing the package (~0.5-1 s); planrunner/krx/days.py uses it only while the
installed `holidays` is the version that wrote it. tests/krx/test_days.py fails when the
file differs from the installed package's answers.
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "planrunner" / "data" / "krx_holidays.json"
YEARS = range(2020, 2031)


def build() -> str:
    import holidays

    years: dict[str, dict[str, str]] = {}
    for year in YEARS:
        cal = holidays.financial_holidays("XKRX", years=[year])
        years[str(year)] = {d.isoformat(): str(cal.get(d)) for d in sorted(cal)}
    data = {
        "source": 'holidays.financial_holidays("XKRX"), written by tests/support/holiday_data.py',
        "holidays_version": metadata.version("holidays"),
        "years": years,
    }
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {FILE.name}")
    args = ap.parse_args()
    text = build()
    if args.write:
        FILE.write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
