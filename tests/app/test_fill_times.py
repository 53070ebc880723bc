"""When a fill happened, not when the run noticed it: the journal, the report (figures,
HTML, JSON), `status` and the printed fill line carry the broker's time of each fill.

A real rehearsal on the embedded simulator: `rest` (a limit buy) fills when the price
dips at 10:00, and nothing reads it before the 11:00 modify; `dash` (a market buy) fills
on arrival at 12:07, and nothing reads it before the 15:15 cancel. The simulator's own
book says when each fill happened. Without the feed the run's order watch reads the
broker's lists at the poll rate (on this compressed clock, virtual minutes after the
fill), and Kiwoom's lists time an order, not its fills: the market order's fill is at
its order's time (it fills on arrival), the
resting order's is the time the run saw it, marked so, with the earliest it can have
filled. With the feed, the order events' time (908) dates both.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from planrunner.app.launch import RunOptions, run_plan
from planrunner.app.report import Rates, figures, plan_report, render_html
from planrunner.cli.group import cli
from planrunner.clock import SEOUL
from planrunner.engine.events import Event
from planrunner.engine.journal import replay_lines

PLAN = """\
version: 1
name: fill-times
orders:
  rest:
    symbol: "005930"
    side: buy
    qty: 10
    price: 69000
    at: "09:00"
  dash:
    symbol: "005930"
    side: buy
    qty: 5
    type: market
    at: "12:07"
steps:
  - at: "11:00"
    modify: {order: rest, price: 68900}
  - at: "15:15"
    cancel: {order: dash}
"""
SCENARIO = """\
symbols:
  "005930":
    base: 70000
    walk: false
    path:
      - ["09:00", 70000]
      - ["10:00", 68900]
      - ["10:01", 70100]
"""


def _rehearse(tmp: Path, *, feed: bool) -> dict[str, Any]:
    plan, scenario = tmp / "plan.yaml", tmp / "scenario.yaml"
    plan.write_text(PLAN)
    scenario.write_text(SCENARIO)
    keep: dict[str, Any] = {}
    events: list[Event] = []
    opts = RunOptions(state_dir=tmp / "state", scenario=scenario, speed=4000, feed=feed)
    result = run_plan(
        plan,
        opts,
        emit=events.append,
        stop=threading.Event(),
        on_target=lambda t: keep.update(target=t),
    )
    assert result.exit_code == 0, result.attention
    [journal] = (tmp / "state").glob("*/*.sim.jsonl")
    day = dt.date.fromisoformat(journal.name.split(".")[0])
    book = keep["target"].simulator.orders()
    # The simulator's truth: when each order's (only) fill happened, to the second.
    filled_at = {}
    for o in book.values():
        if o.fills:
            [fill] = o.fills
            filled_at[o.ord_no] = fill.at.astimezone(SEOUL).replace(microsecond=0)
    records = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    lineage = {r["order"]: r["ord_no"] for r in records if r.get("type") == "ack"}
    truth = {order: filled_at[ord_no] for order, ord_no in lineage.items()}
    figures = plan_report(plan, state_dir=tmp / "state", day=day, journal=journal)
    state = str(tmp / "state")
    args = ["status", str(plan), "--state-dir", state, "--date", str(day), "--format", "json"]
    status = CliRunner().invoke(cli, args)
    assert status.exit_code == 0, status.output
    return {
        "truth": truth,
        "records": [r for r in records if r.get("type") == "fill"],
        "figures": figures,
        "fills": {o["order"]: o["fills"] for o in figures["orders"]},
        "html": render_html(figures),
        "status": json.loads(status.output)["fills"],
        "printed": {e.order: e for e in events if e.kind == "fill"},
    }


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _rehearse(tmp_path_factory.mktemp("polled"), feed=False)


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _rehearse(tmp_path_factory.mktemp("pushed"), feed=True)


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(SEOUL)


def test_the_scenario_fills_long_before_the_steps_read(polled):
    truth = polled["truth"]
    assert truth["rest"].time() == dt.time(10, 0)  # the dip, not the 11:00 read
    # placed at 12:07 (on a loaded machine a little later: the clock runs ×4000)
    assert dt.time(12, 7) <= truth["dash"].time() < dt.time(13, 0)
    seen = {r["order"]: _t(r["at"]) for r in polled["records"]}
    assert seen["rest"] > truth["rest"]  # noticed by a later read (the order watch's poll)
    assert seen["dash"] >= truth["dash"]


def test_without_the_feed_a_market_fill_is_dated_by_the_broker(polled):
    truth = polled["truth"]["dash"]
    [rec] = [r for r in polled["records"] if r["order"] == "dash"]
    assert (rec["time"], _t(rec["filled_at"])) == ("broker", truth)
    [fill] = polled["fills"]["dash"]
    assert (fill["time"], _t(fill["at"])) == ("broker", truth)
    assert _t(fill["seen"]) >= truth
    assert f'<td class="l">{truth:%H:%M:%S}</td><td class="l">fill</td>' in polled["html"]
    status = polled["status"]["dash"]
    assert (status["time"], _t(status["at"])) == ("broker", truth)
    printed = polled["printed"]["dash"]
    seen = _t(rec["at"])
    late = f" (seen {seen:%H:%M:%S})" if (seen - truth).total_seconds() >= 1 else ""
    assert f" at {truth:%H:%M:%S}{late}" in printed.message
    assert printed.data["filled_at"] == rec["filled_at"]


def test_without_the_feed_a_resting_fill_says_time_seen_and_since_when(polled):
    truth = polled["truth"]["rest"]
    [rec] = [r for r in polled["records"] if r["order"] == "rest"]
    assert rec["time"] == "seen" and "filled_at" not in rec
    after, seen = _t(rec["after"]), _t(rec["at"])
    assert after <= truth <= seen  # the span it can have filled in holds the truth
    [fill] = polled["fills"]["rest"]
    assert (fill["time"], _t(fill["at"]), _t(fill["after"])) == ("seen", seen, after)
    assert f"{seen:%H:%M:%S} (time seen; filled after {after:%H:%M:%S})" in polled["html"]
    assert polled["status"]["rest"]["time"] == "seen"
    printed = polled["printed"]["rest"].message
    if (seen - after).total_seconds() >= 1:
        assert f"some time between {after:%H:%M:%S} and {seen:%H:%M:%S}" in printed
    else:  # seen within the second it can have filled in
        assert f" at {seen:%H:%M:%S}" in printed


def test_with_the_feed_every_fill_is_at_the_simulators_time(pushed):
    for order in ("rest", "dash"):
        truth = pushed["truth"][order]
        [fill] = pushed["fills"][order]
        assert (fill["time"], _t(fill["at"])) == ("broker", truth), order
        assert f'<td class="l">{truth:%H:%M:%S}</td><td class="l">fill</td>' in pushed["html"]
        status = pushed["status"][order]
        assert (status["time"], _t(status["at"])) == ("broker", truth), order
        # Whichever noticed it first (the event, or the modify's read before the event
        # came), the journal ends with the broker's time of the fill.
        last = [r for r in pushed["records"] if r["order"] == order][-1]
        assert (last["time"], _t(last["filled_at"])) == ("broker", truth), order
    assert "(time seen" not in pushed["html"]  # no row says so


def test_older_journals_fall_back_to_the_time_seen_and_say_so():
    """A format 3 fill (no time of its own) is drawn when it was seen, marked "time
    seen"; a format 4 fill pushed by the feed (`broker_time` only) keeps the broker's."""
    start = {"type": "start", "format": 4, "mode": "sim", "env": "sim", "file": "p.yaml",
             "sha256": "ab", "run_start": "2026-03-03T09:00:00+09:00", "t": "x"}  # fmt: skip
    old = {"type": "fill", "order": "a", "ord_no": "1", "filled": 4, "remaining": 6,
           "at": "2026-03-03T11:00:00+09:00", "value": 280000, "t": "y"}  # fmt: skip
    pushed = {**old, "order": "b", "broker_time": "10:00:07", "source": "feed"}
    lines = [json.dumps(r) for r in (start, old, pushed, {"type": "stop", "exit_code": 0})]
    fig = figures(
        replay_lines(lines), day=dt.date(2026, 3, 3), rates=Rates(fee=0, tax=0, source="")
    )
    by = {o["order"]: o["fills"] for o in fig["orders"]}
    assert [(f["time"], _t(f["at"]).time()) for f in by["a"]] == [("seen", dt.time(11, 0))]
    assert [(f["time"], _t(f["at"]).time()) for f in by["b"]] == [("broker", dt.time(10, 0, 7))]
    page = render_html(fig)
    assert "11:00:00 (time seen)" in page and "4 filled at 70,000 time seen 11:00:00" in page
    assert "4 filled at 70,000 at 10:00:07" in page
