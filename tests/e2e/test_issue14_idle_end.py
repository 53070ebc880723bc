"""The runner ends when nothing more can happen (issue 14), and without the feed it
notices a fill at the poll rate, not at the next step.

A plan buys 10 at 69,500 at 09:00:05; the rehearsal's price reaches it at 10:00 and the
whole order fills. Its later steps (a modify at 14:00, a cancel at 15:10) and its stop
trigger (until 15:00) have nothing left to act on: the run says why it ends, skips them
as they would be skipped at their time, and stops long before 14:00."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.support.loopback import rehearse
from tests.support.plan_text import falling, stop_loss

STEPS = """\
steps:
  - {at: "14:00", modify: {order: entry, price: 69400}}
  - {at: "15:10", cancel: {order: entry}}
"""
PLAN = stop_loss("idle-end", below=60000, until="15:00", steps=STEPS)
SCENARIO = falling('[["09:00", 69800], ["10:00", 69400]]', fill="full")


def _events(
    tmp_path, *extra: str, scenario: str = SCENARIO, speed: float = 400
) -> list[dict[str, Any]]:
    done = rehearse(tmp_path, PLAN, scenario, *extra, speed=speed)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(x) for x in done.stdout.splitlines()]


def _clock(event: dict[str, Any]) -> dt.time:
    return dt.datetime.fromisoformat(event["at"]).time()


@pytest.mark.parametrize("feed", ["--feed", "--no-feed"])
def test_issue14_a_filled_plan_ends_at_once_and_says_why(tmp_path, feed):
    events = _events(tmp_path, feed)
    fills = [e for e in events if e.get("event") == "fill"]
    assert sum(f["data"]["qty"] for f in fills) == 10, fills
    # Printed within a poll of the fill (at 10:00), not at the next step (14:00).
    assert all(_clock(f) < dt.time(11, 0) for f in fills), fills
    [end] = [e for e in events if str(e.get("message", "")).startswith("nothing more can")]
    assert "every order is closed (entry filled)" in end["message"], end
    assert end["message"].endswith("ending now, not at 15:10:00"), end
    assert _clock(end) < dt.time(11, 0)
    skipped = {e["job"]: e["message"] for e in events if e.get("event") == "skipped"}
    assert skipped["entry.modify@14:00"] == "skipped (filled)", skipped
    assert skipped["entry.cancel@15:10"] == "skipped (filled)", skipped
    assert "its order entry is filled" in skipped["trigger:stop"], skipped
    assert [e["job"] for e in events if e.get("event") == "sent"] == ["entry.place"]
    summary = events[-1]["summary"]
    [entry] = summary["orders"]
    assert (entry["filled"], entry["state"]) == (10, "filled")
    # Nothing after the end: the last event is the end's own skips, before 11:00.
    assert all(_clock(e) < dt.time(11, 0) for e in events if "at" in e)


def test_issue14_an_order_still_open_keeps_the_run_to_its_last_step(tmp_path):
    # Control: 3 of 10 fill at 10:00 and the rest stays open: every step still acts.
    partial = SCENARIO.replace("fill: full", "fill: {mode: partial, max_qty: 3}")
    events = _events(tmp_path, "--no-feed", scenario=partial, speed=2000)
    assert not [e for e in events if str(e.get("message", "")).startswith("nothing more")]
    sent = [e["job"] for e in events if e.get("event") == "sent"]
    assert sent == ["entry.place", "entry.modify@14:00", "entry.cancel@15:10"], sent
