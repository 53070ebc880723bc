"""Issue 16, `on_late: {place: WINDOW}`: a job whose instant passed while the runner was
down is sent when the run starts if it is at most WINDOW late, else skipped; each is
reported, and a restart never sends it again (the journal's job identity)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.engine.journal import replay
from planrunner.model import Cancel, CompiledPlan, Place, Policy
from tests.support.rehearsal import Rehearsal, at, job, plan, spec

POLICY = Policy(
    misfire_grace=dt.timedelta(seconds=30),
    on_late="place",
    late_window=dt.timedelta(minutes=10),
)


def _plan() -> CompiledPlan:
    entry, other = spec("entry"), spec("other", price=68000)
    return plan(
        [entry, other],
        [
            job("other.place", 1, Place(spec=other)),  # 11 minutes before 09:12: past 10m
            job("entry.place", 5, Place(spec=entry)),  # 7 minutes before 09:12: sent
            job("entry.cancel", 15, Cancel(order="entry")),  # after the start: on time
        ],
        policy=POLICY,
    )


def test_issue16_on_late_place_sends_within_the_window_once(tmp_path: Path) -> None:
    compiled = _plan()
    r = Rehearsal(tmp_path, speed=2000, start=at(12))
    result = r.run(compiled, began=at(12))
    assert result.jobs == {
        "other.place": "skipped (late by 660s, past the on_late window of 10m)",
        "entry.place": "done (sent 7m late: on_late place)",
        "entry.cancel": "done",
    }
    assert result.exit_code == 2  # the skipped one needs attention
    assert any(a.startswith("other.place: skipped (late by 660s") for a in result.attention)
    assert not any(a.startswith("entry.place") for a in result.attention)
    [place] = r.sent("kt10000")
    assert (place["ord_qty"], place["ord_uv"]) == ("10", "69000")
    assert r.messages("warning") == ["entry.place: sending 7m late (on_late: place, window 10m)"]
    records = replay(tmp_path / "journal.jsonl").records
    kinds = [(x["type"], x.get("job")) for x in records if x.get("job") == "entry.place"]
    assert kinds[:2] == [("late", "entry.place"), ("intent", "entry.place")]

    # A restart on the same journal: what was done is not sent again.
    again = r.run(compiled, began=r.target.clock.now() if r.target else None)
    assert again.jobs["entry.place"].startswith("done")
    assert len(r.sent("kt10000")) == 1 and len(r.sent("kt10003")) == 1
    # The broker's book: one order, cancelled.
    assert [o.remaining for o in r.sim.orders().values()] == [0, 0]


def test_issue16_on_late_skip_is_unchanged_by_the_window(tmp_path: Path) -> None:
    """Without place, a job missed while the runner was down is skipped as before."""
    compiled = _plan()
    skip = plan(
        list(compiled.orders.values()),
        list(compiled.jobs),
        policy=Policy(misfire_grace=dt.timedelta(seconds=30)),
    )
    r = Rehearsal(tmp_path, speed=2000, start=at(12))
    result = r.run(skip, began=at(12))
    assert result.jobs["entry.place"] == "skipped (late by 420s)"
    assert result.jobs["entry.cancel"].startswith("skipped")  # never placed
    assert r.sent("kt10000") == []
