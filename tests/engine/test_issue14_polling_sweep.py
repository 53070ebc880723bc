"""Issue 14: polling (no feed, or the feed down) acts on a crossing as soon as its poll
reads it, not after the rest of the sweep. Under the rate limits a sweep of N symbols
takes N / rate seconds (10 symbols: 3.3 s live, 10 s mock), so waiting for the sweep
before firing doubled the reaction."""

from __future__ import annotations

import datetime as dt

from planrunner.model import OrderSpec, Place, PriceCond, Trigger
from tests.support.rehearsal import Rehearsal, plan, spec

# Three symbols polled in code order; the first is below its level from the start.
SCENARIO = """
symbols:
  "000660": {price: 199000, walk: false}
  "005930": {price: 70000, walk: false}
  "035720": {price: 50000, walk: false}
"""
WINDOW = (dt.time(9, 0), dt.time(9, 1))


def _trigger(tid: str, symbol: str, level: int, bid: int) -> tuple[Trigger, OrderSpec]:
    order = spec(f"o{tid}", symbol=symbol, qty=1, price=bid)
    cond = PriceCond(symbol=symbol, op="below", value=level)
    return Trigger(id=tid, when=cond, action=Place(spec=order), between=WINDOW), order


def test_issue14_a_crossing_fires_before_the_rest_of_the_sweep_is_polled(tmp_path):
    r = Rehearsal(tmp_path, scenario=SCENARIO, speed=120)
    dip, o1 = _trigger("dip", "000660", 200000, 190000)  # holds at the first read
    calm, o2 = _trigger("calm", "005930", 60000, 59000)  # never holds
    quiet, o3 = _trigger("quiet", "035720", 40000, 39000)  # never holds
    result = r.run(plan([o1, o2, o3], [], triggers=(dip, calm, quiet)))
    assert result.stats["triggers"]["dip"]["state"] == "done"
    trail = [
        (e.api_id, str(e.body.get("stk_cd", "")))
        for e in r.sim.log_snapshot()
        if e.api_id in ("ka10001", "kt10000")
    ]
    placed = trail.index(("kt10000", "000660"))
    first_poll = trail.index(("ka10001", "000660"))
    # Between the crossing's read and its order only that symbol was read (the order's
    # own pre-send check may read its quote), and the other symbols were polled after.
    between = {sym for api, sym in trail[first_poll:placed]}
    assert between == {"000660"}, trail[: placed + 1]
    assert ("ka10001", "005930") in trail[placed:]
    assert [x for x in trail if x[0] == "kt10000"] == [("kt10000", "000660")]
