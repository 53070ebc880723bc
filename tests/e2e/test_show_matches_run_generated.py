"""`show` predicts what `run` sends, on plans from the fuzz generator bench/truth.py uses
(bench/reliability.py `make_plan`: modifies with absolute and relative prices, qty trims,
partial and full cancels, `market`), each rehearsed on the embedded simulator under one
broker reading: today's defaults, each switch alone, all switches at once.

Deterministic: plan k comes from the seed "show-vs-run:k" and runs under reading k mod 8.
Every request the run sends must equal `show`'s prediction for the simulator's reading
(`show --broker ...`), its placeholders resolved (tests/e2e/test_examples_run.py), and
every request the plan means must be sent (nothing skipped, exit 0). The plans of a
reading other than the defaults are marked `broker_reading`, as every such reading is.
"""

from __future__ import annotations

import random

import pytest

from planrunner.sim.behaviour import Behaviour
from tests.e2e.test_examples_run import Rehearsal, _show_matches_run
from tests.support.bench import load
from tests.support.readings import MARK

GEN = load("reliability")
READINGS = [Behaviour(), *Behaviour.each_unusual(), Behaviour.all_unusual()]
PLANS = 200
SPEED = 10


def _name(b: Behaviour) -> str:
    return ",".join(f"{k}={v}" for k, v in b.changed().items()) or "defaults"


def _param(k: int) -> object:
    """Plan k, marked `broker_reading` unless it runs under the defaults: the shifted-date
    stages of .ci/run run the plans of the default reading only (tests/support/readings.py)."""
    reading = READINGS[k % len(READINGS)]
    marks = (MARK,) if reading.changed() else ()
    return pytest.param(k, id=f"{k}-{_name(reading)}", marks=marks)


@pytest.mark.parametrize("k", [_param(k) for k in range(PLANS)])
def test_issue12_item3_show_predicts_run_on_generated_plans(k, tmp_path):
    reading = READINGS[k % len(READINGS)]
    gen = GEN.make_plan(
        random.Random(f"show-vs-run:{k}"),
        f"gen-{k}",
        GEN.symbols_for(k, 3),
        steps_per_order=(1, 3),
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(gen.text, encoding="utf-8")
    scenario = tmp_path / "scenario.yaml"
    # A still market at 70,000 (the bench's, without its walk: the rehearsal clock runs
    # fast): only `market` orders fill, as the generator expects.
    still = [f'  "{o.symbol}": {{base: 70000, walk: false}}' for o in gen.orders.values()]
    scenario.write_text("\n".join(["symbols:", *still, ""]), encoding="utf-8")
    r = Rehearsal(plan, tmp_path / "state", speed=SPEED, behaviour=reading, scenario=scenario)
    assert r.result.exit_code == 0, (gen.text, r.result.attention)
    expected = sum(len(o.expected) for o in gen.orders.values())
    assert _show_matches_run(r) == expected, gen.text
