"""Jobs fire at the same Seoul instants whatever the machine's time zone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.support.loopback import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _fired(tz: str, state: Path) -> tuple[dict[str, str], dict[str, dt.datetime]]:
    done = run_cli(
        "run",
        str(ROOT / "plans/open-ladder.yaml"),
        "--scenario",
        str(ROOT / "plans/scenarios/open-ladder.yaml"),
        "--speed",
        "3000",
        "--format",
        "json",
        "--state-dir",
        str(state),
        env={"TZ": tz},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    scheduled = {e["job"]: e["data"]["at"] for e in events if e.get("event") == "scheduled"}
    sent = {
        e["job"]: dt.datetime.fromisoformat(e["at"]) for e in events if e.get("event") == "sent"
    }
    return scheduled, sent


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_jobs_fire_at_seoul_instants_under_another_machine_zone(tz, tmp_path):
    scheduled, sent = _fired(tz, tmp_path)
    assert scheduled["entry.modify@09:30"].endswith("T09:30:00+09:00")
    assert scheduled["entry.cancel@15:10"].endswith("T15:10:00+09:00")
    for job, at in sent.items():
        planned = dt.datetime.fromisoformat(scheduled[job])
        # Sent within the compressed run's grace of its Seoul instant (never hours off).
        assert dt.timedelta(0) <= at - planned < dt.timedelta(minutes=15), (job, at, planned)
    assert set(sent) == {
        "entry.place",
        "entry.modify@09:30",
        *(f"entry.ladder@09:35#{i}" for i in range(1, 7)),
        "entry.cancel@15:10",
    }
