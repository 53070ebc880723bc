"""Sessions as data: regimes by date, special days with their windows, a user calendar
file, 81 from 15:30, and the announced KRX extension behind its switch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from planrunner.clock import SEOUL
from planrunner.krx import days
from tests.support.plan_text import BASE, problems


def hm(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def spans(windows: dict[str, days.Window]) -> dict[str, tuple[str, str]]:
    return {
        k: (w.start.isoformat("minutes"), w.end.isoformat("minutes")) for k, w in windows.items()
    }


NORMAL_KRX = {
    "pre_open": ("08:30", "09:00"),
    "regular": ("09:00", "15:30"),
    "closing_auction": ("15:20", "15:30"),
    "after_hours_open": ("08:30", "08:40"),
    "after_hours_close": ("15:30", "16:00"),
    "after_hours_single": ("16:00", "18:00"),
}
EXAM_KRX = {
    "pre_open": ("09:30", "10:00"),
    "regular": ("10:00", "16:30"),
    "closing_auction": ("16:20", "16:30"),
    "after_hours_open": ("09:30", "09:40"),
    "after_hours_close": ("16:30", "17:00"),
    "after_hours_single": ("17:00", "18:00"),  # the 18:00 end stays
}
FIRST_DAY_KRX = NORMAL_KRX | {
    "pre_open": ("09:30", "10:00"),
    "regular": ("10:00", "15:30"),
    "after_hours_open": ("09:30", "09:40"),
}
NORMAL_NXT = {
    "pre_market": ("08:00", "08:50"),
    "main": ("09:00", "15:20"),
    "after_market": ("15:30", "20:00"),
}
EXAM_NXT = {
    "pre_market": ("09:00", "09:50"),
    "main": ("10:00", "16:20"),
    "after_market": ("16:30", "20:00"),
}
FIRST_DAY_NXT = {
    "pre_market": ("09:00", "09:50"),
    "main": ("10:00", "15:20"),
    "after_market": ("15:30", "20:00"),
}


@pytest.mark.parametrize(
    ("day", "kind", "krx", "nxt"),
    [
        (dt.date(2026, 1, 2), "first_trading_day", FIRST_DAY_KRX, FIRST_DAY_NXT),
        (dt.date(2026, 11, 19), "exam", EXAM_KRX, EXAM_NXT),
        (dt.date(2027, 1, 4), "first_trading_day", FIRST_DAY_KRX, FIRST_DAY_NXT),
        (dt.date(2027, 11, 18), "exam", EXAM_KRX, EXAM_NXT),
        (dt.date(2026, 11, 26), None, NORMAL_KRX, NORMAL_NXT),
    ],
)
def test_issue15_item3_special_days_2026_2027(
    day: dt.date, kind: str | None, krx: dict[str, tuple[str, str]], nxt: dict[str, tuple[str, str]]
) -> None:
    assert days.is_trading_day(day)
    special = days.special_day(day)
    assert (special.kind if special else None) == kind
    assert special is None or special.source
    assert spans(days.venue_windows(day, "KRX")) == krx
    assert spans(days.venue_windows(day, "NXT")) == nxt


def test_issue15_item3_every_built_in_year_has_one_exam_day() -> None:
    by_year: dict[int, list[dt.date]] = {}
    for d in days.exam_days():
        by_year.setdefault(d.year, []).append(d)
    last = max(by_year)
    assert last >= 2027
    assert {y: len(v) for y, v in by_year.items()} == {y: 1 for y in range(2021, last + 1)}
    assert all(days.is_trading_day(d) and d.weekday() == 3 for d in days.exam_days())


def test_issue15_item3_the_coming_year_has_an_exam_day_entry() -> None:
    """Fails when the built-in data lacks the exam day of the year after its review date
    (`reviewed:` in sessions.yaml, moved on at each review). Not the wall clock: the
    suite also runs with the clock moved a year on."""
    from importlib import resources

    import yaml

    raw = yaml.safe_load(
        resources.files("planrunner").joinpath("data/sessions.yaml").read_text("utf-8")
    )
    reviewed = raw["reviewed"]
    assert isinstance(reviewed, dt.date)
    exam_years = {d.year for d in days.exam_days()}
    missing = [y for y in range(2021, reviewed.year + 2) if y not in exam_years]
    assert missing == [], f"no exam-day (수능) entry for {missing} (data reviewed {reviewed})"


def test_issue15_item3_order_type_81_from_1530() -> None:
    day = dt.date(2026, 11, 26)
    at = lambda t: dt.datetime.combine(day, hm(t), tzinfo=SEOUL)  # noqa: E731
    assert not days.accepts("after_hours_close", at("15:29:59"))
    assert days.accepts("after_hours_close", at("15:30"))
    assert not days.accepts("after_hours_close", at("16:00"))
    exam = dt.datetime.combine(dt.date(2027, 11, 18), hm("17:59"), tzinfo=SEOUL)
    assert days.accepts("after_hours_single", exam)
    assert not days.accepts("after_hours_single", exam.replace(hour=18, minute=30))


def test_issue15_item3_krx_extension_is_announced_data_behind_a_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after = dt.date(2026, 6, 26), dt.date(2026, 11, 26)
    at = lambda d, t: dt.datetime.combine(d, hm(t), tzinfo=SEOUL)  # noqa: E731
    # As shipped: announced, not applied — 62 runs 16:00-18:00, nothing at 07:30 or 19:00.
    assert days.accepts("after_hours_single", at(after, "16:30"))
    assert not days.accepts("limit", at(after, "19:00"))
    f = tmp_path / "calendar.yaml"
    f.write_text("apply_announced: [krx-extended-hours]\n", encoding="utf-8")
    monkeypatch.setenv(days.CALENDAR_ENV, str(f))
    assert days.calendar().regime("KRX", after).id == "krx-extended-hours"
    assert days.accepts("limit", at(after, "07:30"))
    assert days.accepts("limit", at(after, "19:59"))
    assert not days.accepts("after_hours_single", at(after, "16:30"))  # replaced
    assert days.windows_for("after_hours_single", after) == ()
    assert not days.accepts("market", at(after, "19:00"))  # limit orders only
    # before its effective date nothing changes
    assert days.calendar().regime("KRX", before).id == "krx-2016"
    assert days.accepts("after_hours_single", at(before, "16:30"))
    assert not days.accepts("limit", at(before, "19:00"))


def test_issue15_item3_a_calendar_file_overrides_a_day_and_validate_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = BASE.replace("    price: 70000\n", "    type: best\n").replace("09:00:05", "09:30")
    assert problems(tmp_path, text) == []
    f = tmp_path / "calendar.yaml"
    f.write_text("days:\n  - {date: 2026-11-26, kind: exam, source: test}\n", encoding="utf-8")
    monkeypatch.setenv(days.CALENDAR_ENV, str(f))
    assert days.session(dt.date(2026, 11, 26)).regular.start == hm("10:00")
    (problem,) = problems(tmp_path, text)
    assert "09:30 is outside the hours of a best order on KRX on 2026-11-26" in problem
    assert "regular session 10:00:00-16:20:00" in problem


def test_issue15_item3_calendar_2027_lists_closed_and_special_days() -> None:
    from click.testing import CliRunner

    from planrunner.cli import cli

    out = CliRunner().invoke(cli, ["calendar", "2027"])
    assert out.exit_code == 0, out.output
    for line in (
        "2027-05-03 Mon  Alternative holiday for Labor Day",
        "2027-07-19 Mon  Alternative holiday for Constitution Day",
        "2027-12-31 Fri  End of Year Holiday",
        "2027-01-04 Mon  first trading day of the year (opens an hour late): opens 10:00",
        "2027-11-18 Thu  college entrance exam day (수능): opens 10:00",
    ):
        assert line in out.output
    day = CliRunner().invoke(cli, ["calendar", "2027-11-18"])
    assert "17:00:00-18:00:00  after-hours single price" in day.output
    assert "10:00:30-16:20:00  NXT main market" in day.output


@pytest.mark.parametrize("year", range(2021, 2028))
def test_issue15_item3_calendar_closed_days_match_the_holidays_package(year: int) -> None:
    import holidays
    from click.testing import CliRunner

    from planrunner.cli import cli

    out = CliRunner().invoke(cli, ["calendar", str(year)]).output
    closed_part, special_part = out.split(f"{year}: special session days")
    closed = {
        line.split()[0]: line.split(maxsplit=2)[2]
        for line in closed_part.splitlines()
        if line.startswith(f"  {year}-")
    }
    ref = holidays.financial_holidays("XKRX", years=[year])
    # every closed weekday, with the package's name for it
    assert closed == {d.isoformat(): str(ref.get(d)) for d in sorted(ref) if d.weekday() < 5}
    special = {line.split()[0] for line in special_part.splitlines() if line.startswith("  2")}
    expected = {d.isoformat() for d in days.exam_days() if d.year == year}
    expected.add(days.first_trading_day_of_year(year).isoformat())
    assert special == expected


def test_issue15_item3_validate_warns_for_a_year_without_an_exam_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from planrunner.cli import cli

    f = tmp_path / "p.yaml"
    f.write_text(BASE + "date: 2028-03-02\n", encoding="utf-8")
    out = CliRunner().invoke(cli, ["validate", str(f)])
    assert out.exit_code == 0, out.output
    assert "no exam-day (수능) entry for 2028" in out.output
    cal = tmp_path / "calendar.yaml"
    cal.write_text("days:\n  - {date: 2028-11-16, kind: exam, source: test}\n")
    monkeypatch.setenv(days.CALENDAR_ENV, str(cal))
    out = CliRunner().invoke(cli, ["validate", str(f)])
    assert "exam-day" not in out.output
    f.write_text(BASE + "date: 2027-03-02\n", encoding="utf-8")
    monkeypatch.delenv(days.CALENDAR_ENV)
    assert "exam-day" not in CliRunner().invoke(cli, ["validate", str(f)]).output


def test_issue15_item3_calendar_json() -> None:
    import json

    from click.testing import CliRunner

    from planrunner.cli import cli

    year = json.loads(CliRunner().invoke(cli, ["calendar", "2026", "--format", "json"]).stdout)
    assert {"date": "2026-06-03", "name": "Local Election Day"} in year["closed"]
    assert [s["date"] for s in year["special"]] == ["2026-01-02", "2026-11-19"]
    day = json.loads(CliRunner().invoke(cli, ["calendar", "2026-11-19", "--format", "json"]).stdout)
    assert day["special"]["kind"] == "exam"
    regular = [w for w in day["venues"]["KRX"]["windows"] if w["window"] == "regular"]
    assert (regular[0]["start"], regular[0]["end"]) == ("10:00:00", "16:30:00")


def test_issue15_item3_show_and_run_follow_the_calendar_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from click.testing import CliRunner

    from planrunner.app.launch import RunOptions, run_plan
    from planrunner.cli import cli
    from planrunner.errors import PlanError

    plan = Path(__file__).resolve().parents[2] / "plans" / "open-ladder.yaml"
    show = ["show", str(plan), "--date", "2026-11-26"]
    assert CliRunner().invoke(cli, show).exit_code == 0
    f = tmp_path / "calendar.yaml"
    f.write_text("days:\n  - {date: 2026-11-26, kind: exam, source: test}\n", encoding="utf-8")
    monkeypatch.setenv(days.CALENDAR_ENV, str(f))
    out = CliRunner().invoke(cli, show)
    assert out.exit_code == 1
    assert "09:00:05 is outside the hours of a limit order on KRX on 2026-11-26" in out.output
    opts = RunOptions(state_dir=tmp_path / "state", date=dt.date(2026, 11, 26), speed=4000)
    with pytest.raises(PlanError, match="09:00:05 is outside the hours"):
        run_plan(plan, opts, emit=lambda e: None, stop=threading.Event())


# Issue 13: the user's calendar file is read by the plan's YAML reader (planrunner/yamlfile.py).


def test_issue13_a_duplicate_key_in_the_calendar_file_is_refused_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the second `apply_announced` silently won over the first."""
    from planrunner.errors import UsageError

    f = tmp_path / "calendar.yaml"
    f.write_text("apply_announced: [krx-extended-hours]\napply_announced: []\n")
    monkeypatch.setenv(days.CALENDAR_ENV, str(f))
    with pytest.raises(UsageError, match=rf"^{f}:2:1: duplicate key 'apply_announced'"):
        days.calendar()


def test_issue13_unquoted_times_in_the_calendar_file_stay_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YAML 1.1 read an unquoted `08:30` as the number 510; the plan's reader keeps it."""
    f = tmp_path / "calendar.yaml"
    f.write_text(
        "regimes:\n  KRX:\n    - id: krx-2031\n      from: 2031-01-02\n      source: test\n"
        "      windows: {pre_open: [08:40, 09:10], regular: [09:10, 15:30]}\n"
    )
    monkeypatch.setenv(days.CALENDAR_ENV, str(f))
    assert days.calendar().regime("KRX", dt.date(2031, 3, 4)).id == "krx-2031"
    assert days.session(dt.date(2031, 3, 4)).regular.start == hm("09:10")
