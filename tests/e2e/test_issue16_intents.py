"""Issue 16 intents against the simulator, beyond the example plans: a trailing stop's
level survives a restart, and one-cancels-other groups resize or cancel the other leg
exactly once. The truth is the simulator's book and request log."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from planrunner.engine.events import ACKED, INFO, TRIGGERED
from planrunner.engine.journal import replay
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from tests.support.rehearsal import DAY, OPEN, Rehearsal


class StopOn(list[Any]):
    """The run's event list; sets `stop` from the emitting thread at the first event of
    `kind` whose message contains `seen`, so the run stops right there, whatever the
    machine's load."""

    def __init__(self, stop: threading.Event, kind: str, seen: str) -> None:
        super().__init__()
        self.stop, self.kind, self.seen = stop, kind, seen

    def append(self, event: Any) -> None:
        super().append(event)
        if event.kind == self.kind and self.seen in event.message:
            self.stop.set()


def _compiled(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    return compile_plan(load_plan(f), day=DAY, run_start=OPEN)


TRAIL_PLAN = """\
version: 1
name: trail-restart
orders:
  later: {symbol: "005930", side: buy, qty: 1, price: 60000, at: "09:50"}
triggers:
  - id: trail
    when: {trailing: {symbol: "005930", below_high: "2%"}}
    between: ["09:00", "09:45"]
    place: {id: stop, symbol: "005930", side: sell, qty: 10, type: market}
"""
# Before the restart the price climbs to 72,000; after it, it stands at 70,000.
CLIMB = """\
symbols:
  "005930":
    base: 70000
    walk: false
    path: [["09:00", 70000], ["09:05", 71000], ["09:10", 72000]]
"""
FLAT = "symbols: {'005930': {base: 70000, price: 70000, walk: false}}"


def test_issue16_item2_trailing_level_resumes_after_a_restart(tmp_path: Path) -> None:
    compiled = _compiled(tmp_path, TRAIL_PLAN)
    first = Rehearsal(tmp_path, scenario=CLIMB, speed=1200)
    stop = threading.Event()
    # First run: stopped the moment the level reaches 70,600 (2% below 72,000, rounded up).
    first.events = StopOn(stop, INFO, "level 70,600")
    first.run(compiled, stop=stop)
    trails = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    assert [(x["best"], x["level"]) for x in trails] == [
        (70000, 68600),
        (71000, 69600),
        (72000, 70600),
    ]
    assert first.sent("kt10000", "kt10001") == []
    # The restart, at 09:15 with the price at 70,000. Resumed, the level is 70,600 and
    # 70,000 is below it: the stop fires at once. (Armed afresh, the level would start
    # at 68,600 and the price, standing still, would never reach it.)
    second = Rehearsal(tmp_path, scenario=FLAT, speed=1200, start=OPEN + dt.timedelta(minutes=15))
    stop = threading.Event()
    second.events = StopOn(stop, ACKED, "acked place")
    second.run(compiled, stop=stop)
    assert [e.message for e in second.events if e.kind == TRIGGERED] == [
        "trigger trail fired (005930 70,000)"
    ]
    [sell] = second.sent("kt10001")
    assert (sell["ord_qty"], sell["trde_tp"]) == ("10", "3")
    [order] = second.sim.orders().values()
    assert (order.side, order.filled, order.remaining) == ("sell", 10, 0)
    # Nothing new was journaled for the level: 70,000 is no new high.
    again = [x for x in replay(tmp_path / "journal.jsonl").records if x.get("type") == "trail"]
    assert again == trails
