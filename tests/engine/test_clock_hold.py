"""A rehearsal does not let the scenario's prices run on while a due job waits for the
machine: the clock stands at the job's instant until its request leaves.

On a loaded machine a job's thread gets its CPU late; here its pre-send reads are made
slow instead (a latency fault on ka10075, the open-orders read a modify checks first), a
delay of the same kind that the test can make long and certain.
"""

from __future__ import annotations

import threading
from pathlib import Path

from planrunner.engine.events import DONE, Event
from planrunner.model import Modify
from tests.support.rehearsal import Rehearsal, at, entry_plan, until

# 69,100 is on offer from 09:01:30 to 09:02:30 only. The modify to 69,100 is due at 09:01;
# its checks take 3 real seconds, 150 virtual seconds at the rehearsal's speed.
DIP = """
symbols:
  "005930": {base: 70000, walk: false,
             path: [["09:00", 70000], ["09:01:30", 69100], ["09:02:30", 70000]]}
"""
SPEED = 50.0


def test_a_job_slow_before_its_request_still_sends_at_its_instant(tmp_path: Path) -> None:
    r = Rehearsal(tmp_path, scenario=DIP, speed=SPEED)
    r.sim.faults.add("latency:api=ka10075,ms=3000")
    result = r.run(entry_plan((1, Modify(order="entry", price=69100))))
    assert result.jobs == {"entry.place": "done", "steps[0]": "done"}
    [modify] = [e for e in r.sim.log_snapshot() if e.api_id == "kt10002"]
    # Without the hold it reached the broker at about 09:03:30, after the dip.
    assert at(1) <= modify.at < at(1.5)
    assert sum(o.filled for o in r.sim.orders().values()) == 10  # it bought in the dip


def test_a_stopped_run_leaves_no_hold_behind(tmp_path: Path) -> None:
    """Jobs still to come hold their instants until the run ends: a run stopped before
    them lets the clock go on."""
    r = Rehearsal(tmp_path, speed=SPEED)
    stop = threading.Event()
    r.events = _StopAfterFirst(stop)
    result = r.run(entry_plan((2, Modify(order="entry", price=69100))), stop=stop)
    assert result.jobs["entry.place"] == "done" and "steps[0]" not in result.jobs
    assert r.target is not None
    clock = r.target.clock
    until(lambda: clock.now() > at(2))  # a hold left behind would stop it at 09:02


class _StopAfterFirst(list[Event]):
    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def append(self, event: Event) -> None:
        super().append(event)
        if event.kind == DONE:
            self.stop.set()
