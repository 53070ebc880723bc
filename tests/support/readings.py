"""Broker readings for end-to-end tests: the simulator's switches (planrunner/sim/behaviour.py)
as pytest parameters, and the ways a test hands one to the simulator it runs against.

`readings("remainder", "padding")` gives today's defaults, each named switch alone and
every switch away from its default at once; every reading but the defaults is marked
`broker_reading`, which .ci/run's shifted-date stages leave out (a broker reading does not
depend on the calendar: those stages run each test once, under the defaults).
docs/testing.md says which test runs under which readings.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from planrunner.sim.behaviour import CHOICES, Behaviour

MARK = pytest.mark.broker_reading


def name(reading: Behaviour) -> str:
    changed = reading.changed()
    if not changed:
        return "defaults"
    if len(changed) == len(CHOICES):
        return "all-non-default"
    return ",".join(f"{k}={v}" for k, v in changed.items())


def readings(*switches: str, defaults: bool = True) -> list[Any]:
    """pytest params: the defaults (unless `defaults=False`), each of `switches` alone
    (every switch when none is named) and all switches away from their defaults."""
    for s in switches:
        assert s in CHOICES, f"unknown switch {s!r}"
    alone = [Behaviour(**{s: CHOICES[s][1]}) for s in switches or CHOICES]
    out = [Behaviour()] if defaults else []
    out += [*alone, Behaviour.all_unusual()]
    return [
        pytest.param(r, id=name(r), marks=() if not r.changed() else (MARK,))
        for r in dict.fromkeys(out)
    ]


def sim_args(reading: Behaviour) -> list[str]:
    """`planrunner sim` options that play the reading."""
    return [x for k, v in reading.changed().items() for x in ("--broker", f"{k}={v}")]


def scenario_text(text: str, reading: Behaviour) -> str:
    """A scenario file's text with the reading's `broker:` key added."""
    changed = reading.changed()
    return text + (f"broker: {json.dumps(changed)}\n" if changed else "")
