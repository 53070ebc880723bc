"""The mission's stop-loss: the price path crosses 69,000, the trigger fires, the remainder
goes to market, and the summary prints how long that took from the crossing."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.loopback import rehearse
from tests.support.plan_text import falling, stop_loss
from tests.support.readings import readings, scenario_text

PLAN = stop_loss(
    "samsung-stop", below=69000, until="11:00",
    about="Bid 10 at 69,500; if the price falls below 69,000, go to market.",
)  # fmt: skip
SCENARIO = falling(
    '[["09:00", 69600], ["09:30", 69500], ["09:31", 69700], ["10:00", 68900]]',
    fill="{mode: partial, max_qty: 3}",
)


def _run(tmp_path, fmt: str, reading=None, speed: int = 400):
    scenario = SCENARIO if reading is None else scenario_text(SCENARIO, reading)
    done = rehearse(tmp_path, PLAN, scenario, speed=speed, fmt=fmt)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_stop_loss_sends_exactly_the_remainder_to_market(tmp_path):
    _check_stop_loss(_run(tmp_path, "json"))


@pytest.mark.parametrize("reading", readings(defaults=False))
def test_issue12_acceptance2_stop_loss_under_each_broker_reading(tmp_path, reading):
    # The same market switch and summary under each broker reading (a faster clock:
    # nothing moves after the 10:00 price event, so the figures do not depend on it).
    out = _run(tmp_path, "json", reading, speed=2000)
    _check_stop_loss(out)
    events = [json.loads(x) for x in out.splitlines()]
    [cancel] = [e["data"] for e in events if e.get("event") == "sent" and "cncl_qty" in e["data"]]
    assert cancel["orig_ord_no"] == reading.number("0000001")  # the scenario's broker


def _check_stop_loss(out: str) -> None:
    lines = [json.loads(x) for x in out.splitlines()]
    sent = [e["data"] for e in lines if e.get("event") == "sent" and e["job"] == "trigger:stop"]
    assert [(b.get("cncl_qty"), b.get("trde_tp"), b.get("ord_qty")) for b in sent] == [
        ("0", None, None),
        # 3 filled at 09:30 when the price touched the bid, 3 more at 10:00 when it fell
        # through it (the same price event that fires the stop): 4 remain for the market.
        (None, "3", "4"),
    ]
    summary = lines[-1]["summary"]
    reaction = summary["triggers"]["stop"]
    assert reaction["crossing"].endswith("T10:00:00.000+09:00")
    assert reaction["api_id"] == "kt10003" and reaction["reaction_ms"] >= 0
    [entry] = summary["orders"]
    assert (entry["filled"], entry["remaining"], entry["state"]) == (10, 0, "filled")


def test_stop_loss_summary_prints_the_reaction_time(tmp_path):
    out = _run(tmp_path, "text")
    line = next(x for x in out.splitlines() if x.strip().startswith("trigger stop:"))
    assert re.search(
        r"price crossed at 10:00:00\.000, first request \(kt10003\) at "
        r"10:00:\d\d\.\d{3}: [\d.]+ ms real",
        line,
    ), line
