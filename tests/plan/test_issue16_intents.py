"""Issue 16's plan intents built here: `ladder` with `times`, sliced orders, and
`on_late: {place: WINDOW}`: their rules (clear refusals) and what compile lays out."""

from __future__ import annotations

from pathlib import Path

import pytest

from planrunner.plan.compile import compile_file
from tests.support.plan_text import BASE, DAY, NOW, problems

LADDER = BASE + "steps:\n  - ladder: {order: entry, every: 5m, by: +1 tick, from: '09:35', "


def _jobs(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    plan = compile_file(f, day=DAY, now=NOW)
    return [(j.id, j.at.strftime("%H:%M:%S")) for j in plan.jobs]


def test_issue16_ladder_times_lays_out_n_rungs(tmp_path: Path) -> None:
    by_times = _jobs(tmp_path, LADDER + "times: 4, limit: 71000}\n")
    by_until = _jobs(tmp_path, LADDER + "until: '09:50', limit: 71000}\n")
    assert by_times == by_until
    assert [at for _, at in by_times[1:]] == ["09:35:00", "09:40:00", "09:45:00", "09:50:00"]
    assert by_times[-1][0] == "entry.ladder@09:35#4"


def test_issue16_ladder_times_from_an_offset(tmp_path: Path) -> None:
    text = LADDER.replace("'09:35'", "'+30s'") + "times: 3, limit: 71000}\n"
    jobs = _jobs(tmp_path, text)
    assert [j for j, _ in jobs[1:]] == [f"entry.ladder@+30s#{k}" for k in (1, 2, 3)]
    assert [at for _, at in jobs[1:]] == ["09:00:30", "09:05:30", "09:10:30"]


def test_issue16_ladder_times_stops_at_the_limit(tmp_path: Path) -> None:
    # 70,100 and 70,200 fit under the limit; the 3rd rung would pass it and is not laid out.
    jobs = _jobs(tmp_path, LADDER + "times: 5, limit: 70200}\n")
    assert [j for j, _ in jobs[1:]] == ["entry.ladder@09:35#1", "entry.ladder@09:35#2"]


END = "a ladder ends with exactly one of until (no rung after this time) or times (how many rungs)"


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("times: 4, until: '10:00', limit: 71000}\n", [f"11:5: $.steps[0].ladder: {END}"]),
        ("limit: 71000}\n", [f"11:5: $.steps[0].ladder: {END}"]),
        (
            "times: 0, limit: 71000}\n",
            [
                "11:74: $.steps[0].ladder.times: 0 is not a number of rungs: "
                "write a whole number from 1 to 1000"
            ],
        ),
        (
            "times: 1001, limit: 71000}\n",
            [
                "11:74: $.steps[0].ladder.times: 1001 is not a number of rungs: "
                "write a whole number from 1 to 1000"
            ],
        ),
        (
            "times: '4', limit: 71000}\n",
            [
                "11:74: $.steps[0].ladder.times: '4' is not a number of rungs: "
                "write a whole number from 1 to 1000"
            ],
        ),
    ],
)
def test_issue16_ladder_times_refusals(tmp_path: Path, tail: str, expected: list[str]) -> None:
    assert problems(tmp_path, LADDER + tail) == expected


def test_issue16_ladder_times_past_midnight_and_past_the_close(tmp_path: Path) -> None:
    text = LADDER.replace("every: 5m", "every: 1h") + "times: 20, limit: 79000}\n"
    assert problems(tmp_path, text) == [
        "11:74: $.steps[0].ladder.times: 20 rungs every 1h from 09:35 end after midnight "
        "(04:35 the next day): a plan is one day"
    ]
    hourly = LADDER.replace("every: 5m", "every: 1h")
    late = problems(tmp_path, hourly + "times: 8, limit: 79000}\n")
    assert [p.split(" is outside the hours")[0] for p in late] == [
        "11:74: $.steps[0].ladder.times: 15:35",
        "11:74: $.steps[0].ladder.times: 16:35",
    ]
