"""bench/scaling.py runs end to end on tiny plans, and a 50,000-step plan fits the input
bounds (issue 16, acceptance 4). No timing is asserted: docs/performance.md has them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import yaml

from planrunner.yamlfile import MAX_BYTES, MAX_VALUES, _expanded_size
from tests.support.bench import output

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_issue16_acceptance4_scaling_bench_prints_its_table() -> None:
    out = output("scaling", "--sizes", "20,40", "--repeat", "1")
    assert "| steps | file | validate (CPU) |" in out
    assert "| 20 | " in out and "| 40 | " in out


def test_issue16_acceptance4_a_50000_step_plan_fits_the_input_bounds() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        plan_text = importlib.import_module("scaling").plan_text
    finally:
        sys.path.remove(str(BENCH))
    assert len(plan_text(50_000).encode()) < MAX_BYTES
    # Values grow by the same amount per step: 1,000 steps, times 50, with room to spare.
    node = yaml.compose(plan_text(1_000))
    assert node is not None
    size = _expanded_size(node)
    assert size is not None and size * 50 < MAX_VALUES * 0.6
