"""How fast a price trigger reacted, on a rehearsal: from the moment the simulator's price
crossed (its price history) to the first request the trigger sent (its journal intent).

Both instants are on the simulator's virtual clock; the real figure divides by the speed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, assert_never

from planrunner.engine.journal import Replay
from planrunner.engine.triggers import holds, window
from planrunner.model import (
    AllCond,
    AnyCond,
    CompiledPlan,
    Condition,
    FilledCond,
    PartiallyFilledCond,
    PriceCond,
    TrailingCond,
    trigger_job,
)

History = Callable[[str], list[tuple[dt.datetime, int]]]


def _crossing(cond: Condition, history: History, since: dt.datetime) -> dt.datetime | None:
    """The first instant at or after `since` when the price part of `cond` held."""
    match cond:
        case PriceCond():
            for at, price in history(cond.symbol):
                if holds(cond, {cond.symbol: price}, {}):
                    return max(at, since)
            return None
        case AllCond() | AnyCond():
            times = [_crossing(c, history, since) for c in cond.items if _has_price(c)]
            known = [t for t in times if t is not None]
            if not known or (isinstance(cond, AllCond) and len(known) < len(times)):
                return None
            return max(known) if isinstance(cond, AllCond) else min(known)
        case FilledCond() | PartiallyFilledCond() | TrailingCond():
            return None  # a trailing level is the watcher's: no crossing of a fixed price
        case _:
            assert_never(cond)


def _has_price(cond: Condition) -> bool:
    match cond:
        case PriceCond():
            return True
        case AllCond() | AnyCond():
            return any(_has_price(c) for c in cond.items)
        case FilledCond() | PartiallyFilledCond() | TrailingCond():
            return False
        case _:
            assert_never(cond)


def reactions(plan: CompiledPlan, state: Replay, history: History, speed: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in plan.triggers:
        if not _has_price(t.when):
            continue
        job = trigger_job(t.id)
        first = next(
            (
                r
                for r in state.records
                if r.get("type") == "intent" and r.get("job") == job and "at" in r
            ),
            None,
        )
        if first is None:
            continue
        start, _end = window(t, plan.day)
        crossed = _crossing(t.when, history, start)
        if crossed is None:
            continue
        sent = dt.datetime.fromisoformat(first["at"])
        virtual_ms = (sent - crossed).total_seconds() * 1000
        out[t.id] = {
            "crossing": crossed.isoformat(timespec="milliseconds"),
            "first_request": sent.isoformat(timespec="milliseconds"),
            "api_id": first.get("api_id"),
            "reaction_ms": virtual_ms / speed,
            "reaction_virtual_ms": virtual_ms,
        }
    return out
