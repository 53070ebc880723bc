"""Issue 14: "the runner ends when nothing more can happen". A trigger that places an
order once another one filled (`partially_filled` / `filled`) and a price holds cannot
fire after that order was cancelled with nothing filled, whatever the price does: the run
ends then and retires it, instead of watching prices until its window ends."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.support.loopback import rehearse
from tests.support.plan_text import plan_of

PLAN = plan_of(
    "cannot-hold",
    'entry: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "09:00:05"}',
    steps=('{at: "09:30", cancel: {order: entry}}',),
    more="""\
triggers:
  - id: flip
    when:
      all: [{partially_filled: {order: entry}}, {price: {symbol: "005930", at_or_above: 70500}}]
    place: {id: flip, symbol: "005930", side: sell, qty: 1, price: 70500}
""",
)

# The entry rests (70,000 > 69,000) and is cancelled unfilled; the control fills 3 of it.
RESTS = 'symbols:\n  "005930": {base: 70000, walk: false}\n'
PARTIAL = """\
symbols:
  "005930":
    base: 70000
    walk: false
    path: [["09:00", 70000], ["09:10", 69000], ["09:20", 70000]]
    fill: {mode: partial, max_qty: 3}
"""


def _events(tmp_path, scenario: str, speed: float) -> list[dict[str, Any]]:
    done = rehearse(tmp_path, PLAN, scenario, "--no-feed", speed=speed)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(x) for x in done.stdout.splitlines()]


def _ends(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if str(e.get("message", "")).startswith("nothing more can")]


def test_issue14_a_trigger_whose_order_ended_unfilled_ends_the_run(tmp_path):
    events = _events(tmp_path, RESTS, 400)
    [end] = _ends(events)
    assert "every order is closed (entry cancelled)" in end["message"], end
    assert dt.datetime.fromisoformat(end["at"]).time() < dt.time(10, 0), end
    skipped = {e["job"]: e["message"] for e in events if e.get("event") == "skipped"}
    assert "its condition cannot hold again" in skipped["trigger:flip"], skipped
    assert [e["job"] for e in events if e.get("event") == "sent"] == [
        "entry.place",
        "entry.cancel@09:30",
    ]


def test_issue14_a_trigger_whose_order_filled_in_part_keeps_watching(tmp_path):
    # Control: 3 filled before the cancel, so a price may still fire it: no early end.
    events = _events(tmp_path, PARTIAL, 2000)
    assert sum(e["data"]["qty"] for e in events if e.get("event") == "fill") == 3
    assert not _ends(events)
    skipped = {e["job"]: e["message"] for e in events if e.get("event") == "skipped"}
    assert "window ended" in skipped["trigger:flip"], skipped
