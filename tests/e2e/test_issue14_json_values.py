"""`--format json` says numbers as numbers and a lineage as a list of objects (issue 14):
the run's events and summary, `status` and `report` of a plan run over loopback without
the feed, each figure checked against the simulator's own order book (no expected value
written here)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback import SimProcess, dry_run, run_cli
from tests.support.plan_text import plan_of

PLAN = plan_of(
    "json-values",
    'entry: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "+1s"}',
    steps=(
        '{at: "+3s", modify: {order: entry, price: 69100}}',
        '{at: "+5s", cancel: {order: entry}}',
    ),
)

# At the limit: 3 fill on arrival; the reprice fills 3 more on arrival; the rest is cancelled.
SCENARIO = """\
symbols:
  "005930": {name: 삼성전자, base: 69000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


SIM_KIND = {"order": "place"}  # the simulator's word for a placement


@pytest.fixture
def ran(tmp_path: Path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    sim = SimProcess("--scenario", str(scenario))
    try:
        state = tmp_path / "state"
        done = run_cli(*dry_run(plan, sim.url, state, "--no-feed", "--format", "json"))
        assert done.returncode == 0, done.stdout + done.stderr
        book = {int(o["ord_no"]): o for o in sim.get("orders")["orders"]}
        yield plan, state, [json.loads(x) for x in done.stdout.splitlines()], book
    finally:
        sim.close()


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _stamp(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    assert when.tzinfo is not None, text  # ISO-8601 with its offset
    return when


def _check_lineage(lineage: list[dict[str, Any]], book: dict[int, dict[str, Any]]) -> None:
    assert isinstance(lineage, list) and lineage
    kinds = [book[int(x["ord_no"])]["kind"] for x in lineage]
    assert [x["kind"] for x in lineage] == [SIM_KIND.get(k, k) for k in kinds]
    for x in lineage:
        assert isinstance(x["ord_no"], str) and x["ord_no"].isdigit()  # an identifier
        row = book[int(x["ord_no"])]
        _stamp(x["at"])
        if x["kind"] == "cancel":
            assert x["price"] is None
        else:
            assert _is_int(x["price"]) and x["price"] == row["price"], (x, row)
        assert _is_int(x["qty"]), x
    times = [_stamp(x["at"]) for x in lineage]
    assert times == sorted(times)


def _truth(book: dict[int, dict[str, Any]]) -> tuple[int, int]:
    """(filled, value) over the book's numbers, from the simulator's own fills."""
    fills = [f for o in book.values() for f in o.get("fills", [])]
    return sum(f["qty"] for f in fills), sum(f["qty"] * f["price"] for f in fills)


def test_issue14_run_summary_and_fill_events_carry_numbers_and_a_lineage_of_objects(ran):
    _plan, _state, events, book = ran
    filled, value = _truth(book)
    assert filled > 3  # two fills at least, on two numbers: the case the run must price
    [entry] = events[-1]["summary"]["orders"]
    _check_lineage(entry["lineage"], book)
    assert [int(x["ord_no"]) for x in entry["lineage"]] == sorted(book)
    for key in ("ordered", "filled", "remaining", "avg_fill_price"):
        assert _is_int(entry[key]), (key, entry)
    assert (entry["filled"], entry["avg_fill_price"]) == (filled, value // filled)
    fills = [e["data"] for e in events if e.get("event") == "fill"]
    assert sum(f["qty"] for f in fills) == filled
    assert sum(f["qty"] * f["price"] for f in fills) == value  # each fill's own price
    for f in fills:
        assert all(_is_int(f[k]) for k in ("qty", "price", "filled", "value", "avg_price")), f
    for e in events:
        if e.get("event") in ("scheduled", "waiting"):
            _stamp(e["data"].get("at") or e["at"])


def test_issue14_status_and_report_json_carry_numbers_and_a_lineage_of_objects(ran):
    plan, state, _events, book = ran
    filled, value = _truth(book)
    done = run_cli("status", str(plan), "--state-dir", str(state), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    _check_lineage(data["lineage"]["entry"], book)
    for job in data["jobs"]:
        assert job["at"] is None or _stamp(job["at"])
    fill = data["fills"]["entry"]
    assert (fill["filled"], fill["avg_price"]) == (filled, value // filled)
    # Cancelled after its fills: nothing open, the filled quantity kept (it said the
    # open quantity of its last fill, as if the cancel had not happened).
    assert fill["remaining"] == 0
    [order] = data["orders"]
    assert (order["filled"], order["remaining"], order["avg_fill_price"]) == (
        filled,
        0,
        value // filled,
    )
    assert order["state"] == "partially filled, rest cancelled"
    text = run_cli("status", str(plan), "--state-dir", str(state))
    assert f"\nentry: {filled} filled at an average {value // filled:,}, 0 open" in text.stdout
    first = data["lineage"]["entry"][0]["ord_no"]
    assert f"entry: {first} → " in text.stdout  # the text keeps its own words
    assert "(modify " in text.stdout and "(cancel " in text.stdout
    out = state / "report.json"
    report = run_cli(
        "report", str(plan), "--state-dir", str(state), "--format", "json", "--out", str(out)
    )
    assert report.returncode == 0, report.stdout + report.stderr
    fig = json.loads(out.read_text())
    [order] = [o for o in fig["orders"] if o["order"] == "entry"]
    assert all(_is_int(f["qty"]) and _is_int(f["price"]) for f in order["fills"]), order["fills"]
    assert sum(f["qty"] * f["price"] for f in order["fills"]) == value
