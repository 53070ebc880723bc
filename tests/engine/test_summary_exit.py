"""The end of a run: an order whose final state could not be read is not a clean run."""

from __future__ import annotations

from planrunner.model import Place
from tests.support.rehearsal import Rehearsal, job, plan, spec


def test_an_unreadable_end_state_is_named_and_exits_2(tmp_path):
    r = Rehearsal(tmp_path)
    entry = spec()
    compiled = plan([entry], [job("entry.place", 1, Place(spec=entry))])
    # Every open-orders read fails from now on (with its retries): only the summary
    # reads ka10075 in this plan, after the placement.
    r.sim.faults.add("5xx:api=ka10075,count=20")
    result = r.run(compiled)
    assert r.sent("kt10000") and len(r.sent("kt10000")) == 1
    assert result.exit_code == 2
    assert [a for a in result.attention if a.startswith("entry: could not read")]


def test_issue12_truth_an_unread_order_is_not_shown_as_cancelled(tmp_path):
    # bench/truth.py: the broker refusing at the very end left an order open (7 at the
    # broker) while the summary's table said `open 0, cancelled`; the attention line named
    # it, but the table must not claim a state nobody read.
    r = Rehearsal(tmp_path)
    entry = spec()
    compiled = plan([entry], [job("entry.place", 1, Place(spec=entry))])
    r.sim.faults.add("5xx:api=ka10075,count=20")
    result = r.run(compiled)
    (row,) = [o for o in result.orders if o.order == "entry"]
    assert row.state.startswith("unknown"), row
    assert result.exit_code == 2
