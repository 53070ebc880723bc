"""bench/truth.py, short: 16 seeded runs (each broker-behaviour combination twice, with
faults injected as bench/faults.py does). Every run's final summary must say what the
simulator's order book holds, or the run must name the order under attention and exit 2:
no silent divergence, every run completed.

No timing is asserted; the larger run and its figures are in docs/performance.md
("Truth"). The fast test checks that the comparison itself tells the three cases apart.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.bench import load, run_json


@pytest.mark.slow
def test_truth_short_no_silent_divergence_under_every_broker_behaviour() -> None:
    args = ["--runs", "16", "--workers", "2", "--seed", "7"]
    done = run_json("truth", *args)
    totals, out = done.totals, done.out
    assert totals["runs"] == 16, out
    assert totals["incomplete"] == 0, out
    assert totals["silent_divergences"] == 0, out
    assert totals["agreeing"] + totals["flagged_divergences"] == 16, out
    assert len(totals["by_broker"]) == 8, out  # defaults, each switch alone, all at once
    assert done.returncode == 0, out


def _case(truth: ModuleType, *, rc: int, attention: list[str], remaining: int) -> Any:
    """A generated plan whose summary says order o0 has `remaining` open while the
    simulator's book holds 5 of it open (the other orders agree)."""
    gen = load("reliability").make_plan(
        random.Random(1), "p", ["100001", "100002"], steps_per_order=(1, 1)
    )
    said, book = [], []
    for o in gen.orders.values():
        open_qty = 5 if o.id == "o0" else 0
        said.append(
            {
                "order": o.id,
                "ordered": o.qty,
                "filled": 0,
                "remaining": remaining if o.id == "o0" else 0,
                "state": "open" if o.id == "o0" and remaining else "cancelled",
            }
        )
        book.append(
            {"ord_no": "1", "kind": "place", "symbol": o.symbol, "remaining": open_qty}
            | {"filled": 0}
        )
    summ = {"exit_code": rc, "orders": said, "attention": attention}
    d = Path("/nonexistent")
    return truth.Faulted(
        gen=gen,
        plan=d,
        state=d,
        out=d,
        faults=[],
        rc=rc,
        summary=summ,
        log=[],
        orders=book,
    )


def test_truth_compare_tells_agrees_flagged_and_silent_apart() -> None:
    truth = load("truth")
    agrees = _case(truth, rc=0, attention=[], remaining=5)
    silent = _case(truth, rc=0, attention=[], remaining=0)
    named_other = _case(truth, rc=2, attention=["o1.place: failed (x)"], remaining=0)
    flagged = _case(truth, rc=2, attention=["o0: in doubt: 5 not found"], remaining=0)
    by_job = _case(truth, rc=2, attention=["o0.place: unknown"], remaining=0)
    assert truth.classify(0, {}, agrees).group == "agrees"
    assert truth.classify(0, {}, silent).group == "silent"
    assert truth.classify(0, {}, named_other).group == "silent"
    assert truth.classify(0, {}, flagged).group == "flagged"
    assert truth.classify(0, {}, by_job).group == "flagged"
