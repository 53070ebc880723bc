"""`planrunner run --feed` end to end: the rehearsal serves the embedded simulator's
WebSocket on 127.0.0.1; the stop-loss plays out exactly as with polling, and its fills
print with their price."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_stop_loss import PLAN, SCENARIO
from tests.support.loopback import rehearse
from tests.support.readings import readings, scenario_text


# The readings that change the pushed order events (numbers' form, the cancel's answer
# the market order must not be sized from, which number an event names), and all at once.
@pytest.mark.parametrize("reading", readings("padding", "all_qty", "orig_ord_no"))
def test_issue14_run_with_the_feed_fires_the_stop_once_and_prices_fills(tmp_path, reading):
    # Under another reading, a faster clock: nothing moves after the 10:00 price event.
    speed = 400 if not reading.changed() else 2000
    done = rehearse(tmp_path, PLAN, scenario_text(SCENARIO, reading), "--feed", speed=speed)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    infos = [e["message"] for e in lines if e.get("event") == "info"]
    assert any(m.startswith("live feed: ws://127.0.0.1:") for m in infos), infos
    warnings = [e["message"] for e in lines if e.get("event") == "warning"]
    assert not [w for w in warnings if w.startswith("live feed")], warnings
    sent = [e["data"] for e in lines if e.get("event") == "sent" and e["job"] == "trigger:stop"]
    assert [(b.get("cncl_qty"), b.get("trde_tp"), b.get("ord_qty")) for b in sent] == [
        ("0", None, None),
        (None, "3", "4"),  # 3 + 3 filled at 69,500 before the stop, 4 to market
    ]
    assert len([e for e in lines if e.get("event") == "triggered"]) == 1
    fills = [e["data"] for e in lines if e.get("event") == "fill"]
    # Pushed or read (whichever saw a fill first prints it, once), each carries a price.
    assert all(isinstance(f["avg_price"], int) and f["avg_price"] > 0 for f in fills), fills
    assert sum(f["qty"] for f in fills) == 10
    [entry] = lines[-1]["summary"]["orders"]
    assert (entry["filled"], entry["remaining"], entry["state"]) == (10, 0, "filled")
    assert isinstance(entry["avg_fill_price"], int)
    # Pushed prices reach the journal's price log like polled ones (the report's path).
    [journal] = (tmp_path / "state").rglob("*.jsonl")
    records = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
    sources = {r.get("source") for r in records if r.get("type") == "price"}
    assert "feed" in sources, sources
