"""What a run tells the terminal: one Event per thing that happened, and the summary."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from planrunner.engine.outcome import Kind

# Event kinds, in the words the terminal prints.
SCHEDULED = "scheduled"
SENT = "sent"
ACKED = "acked"
REJECTED = "rejected"
SKIPPED = "skipped"
UNKNOWN = "unknown"
RECONCILED = "reconciled"
FAILED = "failed"
DONE = "done"
TRIGGERED = "triggered"
FILL = "fill"
INFO = "info"
WARNING = "warning"
WAITING = "waiting"  # an idle run: what it waits for


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: str
    at: dt.datetime  # on the plan's clock (virtual in --sim)
    message: str
    job: str | None = None
    order: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The job's typed outcome where the event tells one that needs the trader (a request
    # in doubt): what a listener acts on, not the wording. Not printed.
    outcome: Kind | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "at": self.at.isoformat(timespec="milliseconds"),
            "job": self.job,
            "order": self.order,
            "message": self.message,
            **({"data": self.data} if self.data else {}),
        }


Emit = Callable[[Event], None]


def steady(emit: Emit, on_failure: Callable[[Exception], None]) -> Emit:
    """`emit` that never raises: output is not an order. A printer that fails (a closed
    pipe, `planrunner run … | head`) is told once to `on_failure` and not called again;
    the job that was printing carries on, and the journal keeps the record."""
    lock = threading.Lock()
    failed: list[Exception] = []

    def safe(event: Event) -> None:
        if failed:
            return
        try:
            emit(event)
        except Exception as exc:
            with lock:
                first = not failed
                failed.append(exc)
            if first:  # reporting a broken output must not break the run either
                with contextlib.suppress(Exception):
                    on_failure(exc)

    return safe


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSummary:
    order: str
    symbol: str
    side: str
    lineage: tuple[str, ...]  # "0000139", "0000140 (modify 09:30)", …
    ordered: int
    filled: int
    remaining: int
    state: str  # open | filled | cancelled | partially filled … | not placed
    avg_fill_price: int | None = None  # filled value / filled; None: nothing filled or unsaid
    # The lineage as data, one object per number (summary.link_data): JSON's `lineage`.
    links: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "symbol": self.symbol,
            "side": self.side,
            "lineage": [dict(x) for x in self.links],
            "ordered": self.ordered,
            "filled": self.filled,
            "remaining": self.remaining,
            "state": self.state,
            "avg_fill_price": self.avg_fill_price,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    exit_code: int
    orders: tuple[OrderSummary, ...]
    jobs: dict[str, str]  # job id -> final state ("done", "skipped (filled)", …)
    attention: tuple[str, ...]  # what a person must look at
    stats: dict[str, Any] = field(default_factory=dict)
