"""Issue 16's plan intents built here: `ladder` with `times`, sliced orders, and
`on_late: {place: WINDOW}`: their rules (clear refusals) and what compile lays out."""

from __future__ import annotations

import datetime as dt
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


SLICED = BASE.replace('    at: "09:00:05"\n', '    at: "09:05"\n    slices: 3\n    every: 5m\n')


def test_issue16_slices_are_orders_of_their_own(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(SLICED + "steps:\n  - {at: '09:30', cancel: {order: entry}}\n", encoding="utf-8")
    plan = compile_file(f, day=DAY, now=NOW)
    assert [(o.id, o.qty, o.sliced) for o in plan.orders.values()] == [
        ("entry-1", 4, "1/3 of entry"),  # 10 shares: the odd one goes to the first slice
        ("entry-2", 3, "2/3 of entry"),
        ("entry-3", 3, "3/3 of entry"),
    ]
    assert [(j.id, j.at.strftime("%H:%M")) for j in plan.jobs] == [
        ("entry-1.place", "09:05"),
        ("entry-2.place", "09:10"),
        ("entry-3.place", "09:15"),
        ("entry-1.cancel@09:30", "09:30"),
        ("entry-2.cancel@09:30", "09:30"),
        ("entry-3.cancel@09:30", "09:30"),
    ]
    # Each cancel names its own slice's number.
    assert [j.requests[0].body["orig_ord_no"] for j in plan.jobs[3:]] == [
        "<entry-1@1>",
        "<entry-2@1>",
        "<entry-3@1>",
    ]


def test_issue16_slices_from_the_run_start(tmp_path: Path) -> None:
    text = SLICED.replace('    at: "09:05"\n', "")
    assert _jobs(tmp_path, text) == [
        ("entry-1.place", "09:00:00"),
        ("entry-2.place", "09:05:00"),
        ("entry-3.place", "09:10:00"),
    ]


SLICE_STEP = SLICED + "steps:\n  - at: '09:30'\n"
SLICE_NAMES = "'entry' is sliced into 3 orders (entry-1, entry-2, entry-3)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            SLICED.replace("    every: 5m\n", ""),
            ["10:13: $.orders.entry.slices: slices needs every: the time between slices (e.g. 5m)"],
        ),
        (
            SLICED.replace("    slices: 3\n", ""),
            ["10:12: $.orders.entry.every: every is the time between slices: give slices too"],
        ),
        (
            SLICED.replace("qty: 10", "qty: 2"),
            ["10:13: $.orders.entry.slices: 3 slices of 2 shares: a slice needs 1 share"],
        ),
        (
            SLICED.replace("slices: 3", "slices: 1"),
            [
                "10:13: $.orders.entry.slices: 1 is not a number of slices: "
                "write a whole number from 2 to 100"
            ],
        ),
        (
            SLICED.replace("every: 5m", "every: 8h"),
            [
                "10:13: $.orders.entry.slices: 3 slices every 8h from 09:05 end after "
                "midnight (01:05 the next day): a plan is one day"
            ],
        ),
        (
            SLICE_STEP + "    modify: {order: entry, qty: 2}\n",
            [f"14:21: $.steps[0].modify.order: {SLICE_NAMES}: a modify of qty names one of them"],
        ),
        (
            SLICE_STEP + "    cancel: {order: entry, qty: 1}\n",
            [f"14:21: $.steps[0].cancel.order: {SLICE_NAMES}: a cancel of part names one of them"],
        ),
        (
            SLICE_STEP + "    replace: {order: entry, qty: 20}\n",
            [f"14:22: $.steps[0].replace.order: {SLICE_NAMES}: a replace names one of them"],
        ),
        (
            SLICED + "triggers:\n  - {when: {filled: {order: entry}}, cancel: {order: entry-2}}\n",
            [
                f"13:29: $.triggers[0].when.filled.order: {SLICE_NAMES}: "
                "a condition names one of them"
            ],
        ),
        (
            SLICED + "triggers:\n  - {when: {filled: {order: entry-1}}, cancel: {order: entry}}\n",
            [f"13:56: $.triggers[0].cancel.order: {SLICE_NAMES}: a trigger acts on one of them"],
        ),
        (
            # A step on the whole sliced order before its last slice is placed.
            SLICED + "steps:\n  - {at: '09:12', cancel: {order: entry}}\n",
            ["13:10: $.steps[0].at: order 'entry-3' is not placed yet at 09:12 (placed at 09:15)"],
        ),
        (
            SLICED + "  entry-2: {symbol: '005930', side: buy, qty: 1, price: 70000}\n",
            ["12:3: $.orders.entry-2.id: order id 'entry-2' is already used at $.orders.entry"],
        ),
    ],
)
def test_issue16_slices_refusals(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text) == expected


ON_LATE = (
    "$.policy.on_late: {value} is not one of: skip, fail, {{place: WINDOW}} (send a late "
    "job when it is at most WINDOW late, e.g. {{place: 10m}})"
)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("{on_late: place}", ["10:19: " + ON_LATE.format(value="'place'")]),
        ("{on_late: {place: 10x}}", ["10:10: " + ON_LATE.format(value='{"place": "10x"}')]),
        ("{on_late: {skip: 10m}}", ["10:10: " + ON_LATE.format(value='{"skip": "10m"}')]),
        (
            "{on_late: {place: 20s}}",
            [
                "10:27: $.policy.on_late.place: the window 20s is not longer than misfire_grace "
                "30s: no late job would ever be sent"
            ],
        ),
        (
            "{misfire_grace: 2m, on_late: {place: 2m}}",
            [
                "10:46: $.policy.on_late.place: the window 2m is not longer than misfire_grace "
                "2m: no late job would ever be sent"
            ],
        ),
    ],
)
def test_issue16_on_late_place_refusals(tmp_path: Path, policy: str, expected: list[str]) -> None:
    assert problems(tmp_path, BASE + f"policy: {policy}\n") == expected


def test_issue16_on_late_place_in_the_plan(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(BASE + "policy: {on_late: {place: 15m}}\n", encoding="utf-8")
    policy = compile_file(f, day=DAY, now=NOW).policy
    assert (policy.on_late, policy.late_window) == ("place", dt.timedelta(minutes=15))
