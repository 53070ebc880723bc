"""`planrunner status`: what the journal of a plan's day says, without any network."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from planrunner.app.identity import relative_time
from planrunner.app.text import status_data
from planrunner.engine.journal import journal_path, replay
from planrunner.errors import RunError
from planrunner.krx import days
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import Plan, load_plan


def find_journal(state_dir: Path, name: str, day: dt.date, env: str | None) -> Path:
    if env:
        path = journal_path(state_dir, name, day, env)
        if not path.exists():
            raise RunError(f"no journal for {name} on {day} in {env} ({path})")
        return path
    found = sorted(
        (state_dir / name).glob(f"{day.isoformat()}.*.jsonl"),
        key=lambda p: p.stat().st_mtime,
    )
    found = [p for p in found if p.stem.count(".") == 1]  # not the kept older rehearsals
    if not found:
        raise RunError(
            f"no journal for {name} on {day} under {state_dir / name}: has it run? "
            "(use --date or --state-dir to look elsewhere)"
        )
    return found[-1]


def _has_journal(state_dir: Path, name: str, day: dt.date, env: str | None) -> bool:
    try:
        find_journal(state_dir, name, day, env)
    except RunError:
        return False
    return True


def journal_day(
    plan: Plan,
    *,
    state_dir: Path,
    day: dt.date | None,
    env: str | None,
    now: dt.datetime | None = None,
) -> dt.date:
    """The day whose journal a reader (status, report) opens: the date given or written
    in the plan, else the plan's default day. A plan with times relative to the run
    start ran today on a real clock even on a closed day (`identity.real_clock_day`),
    while a rehearsal plays the next trading day: whichever journal exists, today's
    first."""
    the_day = day or plan.date or days.default_plan_date(now)
    if day is None and plan.date is None and relative_time(plan) is not None:
        today = days.today_seoul(now)
        if today != the_day and _has_journal(state_dir, plan.journal_name, today, env):
            the_day = today
    return the_day


def plan_status(
    path: Path,
    *,
    state_dir: Path,
    day: dt.date | None,
    env: str | None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    plan = load_plan(path, params)
    the_day = journal_day(plan, state_dir=state_dir, day=day, env=env)
    jpath = find_journal(state_dir, plan.journal_name, the_day, env)
    state = replay(jpath)
    compiled = compile_plan(plan, day=the_day, run_start=state.run_start, closed_ok=True)
    data = status_data(compiled, state)
    data["journal"] = str(jpath)
    data["plan"] = plan.name
    data["day"] = the_day.isoformat()
    return data
