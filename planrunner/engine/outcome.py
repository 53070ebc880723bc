"""Typed outcomes: how a job ended (`Kind`) and, for a skip, why (`SkipCode`).

Whether an outcome needs attention is a property of its kind and code, never of the
wording of its message: `SkipCode.routine` says which skips are the plan running out of
work (the order filled, is no longer open, was never placed; a ladder reached its limit;
a trigger's window ended or its order left nothing to act on). The journal records the
code of every skip (`skipped` records: `code`); attention.py reads it back, so `run` and
`status` agree. A `skipped` record without a code (a journal from before codes) needs
attention: nothing is taken for routine on its wording.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import assert_never


class SkipCode(enum.StrEnum):
    # Routine: the step has nothing left to do.
    FILLED = "filled"
    NOT_OPEN = "not-open"
    NEVER_PLACED = "never-placed"
    LADDER_LIMIT = "ladder-limit"  # as a plan with known prices stops its ladder
    WINDOW_ENDED = "window-ended"  # a trigger whose condition never held in its window
    ORDER_GONE = "order-gone"  # a trigger whose order left nothing to act on
    # Attention: the plan's intent was not carried out.
    LATE = "late"
    SESSION = "session"  # the session does not take this order type now
    PRICE = "price"  # off the tick grid, outside the day's limits or a band
    VALUE = "value"  # over max_order_value
    PRICE_UNKNOWN = "price-unknown"  # a relative step without the broker's price
    UNCHANGED = "unchanged"  # already at that price or within that size
    BLOCKED = "blocked"  # an earlier request on the order is in doubt
    NOTHING_FILLED = "nothing-filled"  # a price from a fill, and the order filled nothing
    UNCODED = "uncoded"  # a journal from before codes

    @property
    def routine(self) -> bool:
        match self:
            case (
                SkipCode.FILLED
                | SkipCode.NOT_OPEN
                | SkipCode.NEVER_PLACED
                | SkipCode.LADDER_LIMIT
                | SkipCode.WINDOW_ENDED
                | SkipCode.ORDER_GONE
            ):
                return True
            case (
                SkipCode.LATE
                | SkipCode.SESSION
                | SkipCode.PRICE
                | SkipCode.VALUE
                | SkipCode.PRICE_UNKNOWN
                | SkipCode.UNCHANGED
                | SkipCode.BLOCKED
                | SkipCode.NOTHING_FILLED
                | SkipCode.UNCODED
            ):
                return False
            case _:
                assert_never(self)

    @property
    def attention(self) -> str | None:
        """The attention reason (attention.REASONS) of a skip with this code, None when
        it is routine."""
        if self.routine:
            return None
        return "late" if self is SkipCode.LATE else "skipped"

    @classmethod
    def of(cls, code: object) -> SkipCode:
        """The code a journal record carries; UNCODED when it has none or an unknown one."""
        try:
            return cls(str(code))
        except ValueError:
            return cls.UNCODED


class Kind(enum.StrEnum):
    """How a job ended, as `run` names it."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    REJECTED = "rejected"
    IN_DOUBT = "in doubt"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One job's end: its kind, the skip's code (skips only) and the reason in words.
    `str()` is the text `run` prints: `skipped (filled)`, `done`."""

    kind: Kind
    reason: str = ""
    code: SkipCode | None = None

    def __str__(self) -> str:
        return f"{self.kind} ({self.reason})" if self.reason else str(self.kind)

    @property
    def needs_attention(self) -> bool:
        match self.kind:
            case Kind.DONE:
                return False
            case Kind.SKIPPED:
                return not (self.code or SkipCode.UNCODED).routine
            case Kind.FAILED | Kind.REJECTED | Kind.IN_DOUBT | Kind.UNKNOWN:
                return True
            case _:
                assert_never(self.kind)


DONE = Outcome(kind=Kind.DONE)
