"""While idle the run says what it waits for (issue 14): the next step with its time and
each armed trigger with its window, printed once and again only when that changes, never
per poll. A trigger whose order closed is retired at once, with its line, not kept until
its window ends; the next `waiting` line leaves it out.

`entry` buys 10 at 69,500 and fills whole at 10:00; `rest` buys 5 at 60,000 and never
fills, until its cancel at 11:00. `stop` (a market on entry, until 15:00) and `later`
(the same, 12:00-15:00: its window not even open) have nothing to act on from 10:00;
`flip` (a cancel of rest, 09:30-15:30) from 11:00."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.support.loopback import rehearse
from tests.support.plan_text import falling

PLAN = """\
version: 1
name: waiting
orders:
  entry: {symbol: "005930", side: buy, qty: 10, price: 69500, at: "09:00:05"}
  rest: {symbol: "005930", side: buy, qty: 5, price: 60000, at: "09:00:05"}
steps:
  - {at: "11:00", cancel: {order: rest}}
triggers:
  - id: stop
    when: {price: {symbol: "005930", below: 50000}}
    market: {order: entry}
    between: ["09:00", "15:00"]
  - id: flip
    when: {price: {symbol: "005930", above: 90000}}
    cancel: {order: rest}
    between: ["09:30", "15:30"]
  - id: later
    when: {price: {symbol: "005930", below: 50000}}
    market: {order: entry}
    between: ["12:00", "15:00"]
"""

SCENARIO = falling('[["09:00", 69800], ["10:00", 69400]]', fill="full")


def _clock(text: str) -> dt.time:
    return dt.datetime.fromisoformat(text).time()


@pytest.mark.parametrize("feed", ["--feed", "--no-feed"])
def test_issue14_an_idle_run_says_what_it_waits_for_once_per_change(tmp_path, feed):
    done = rehearse(tmp_path, PLAN, SCENARIO, feed)
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(x) for x in done.stdout.splitlines()]
    waits = [e for e in events if e.get("event") == "waiting"]
    said = [
        (
            None if w["data"]["next"] is None else _clock(w["data"]["next"]["at"]),
            [j["job"] for j in (w["data"]["next"] or {"jobs": []})["jobs"]],
            {t["trigger"]: (_clock(t["from"]), _clock(t["until"])) for t in w["data"]["triggers"]},
        )
        for w in waits
    ]
    both = {
        "stop": (dt.time(9), dt.time(15)),
        "flip": (dt.time(9, 30), dt.time(15, 30)),
        "later": (dt.time(12), dt.time(15)),
    }
    # Once idle after the placements, once after stop retired: two lines in two hours of
    # polling, each a change from the one before; none after the 11:00 cancel, which
    # leaves nothing to wait for (flip's order is closed: it retires, the run ends).
    assert said == [
        (dt.time(11), ["rest.cancel@11:00"], both),
        (dt.time(11), ["rest.cancel@11:00"], {"flip": both["flip"]}),
    ], [w["message"] for w in waits]
    first, second = (w["message"] for w in waits)
    assert first == (
        "for step rest.cancel@11:00 at 11:00; trigger stop until 15:00; "
        "trigger flip from 09:30 until 15:30; trigger later from 12:00 until 15:00"
    )
    assert second == "for step rest.cancel@11:00 at 11:00; trigger flip until 15:30"

    # stop and later (whose window opens only at 12:00) retired at once when entry filled
    # (10:00), each with its line, before the change.
    skipped = {e["job"]: e for e in events if e.get("event") == "skipped"}
    for name in ("stop", "later"):
        gone = skipped[f"trigger:{name}"]
        assert "its order entry is filled" in gone["message"], gone
        assert _clock(gone["at"]) < dt.time(10, 30), gone
        assert events.index(gone) < events.index(waits[1])
    assert _clock(waits[1]["at"]) < dt.time(11)
    # flip retired once rest is cancelled at 11:00, and the run ends there, not at 15:30.
    flip = skipped["trigger:flip"]
    assert "its order rest is " in flip["message"], flip  # cancelled, or not open
    assert all(_clock(e["at"]) < dt.time(11, 30) for e in events if "at" in e)
