"""The vocabulary shared by compile, show and the runner: orders, actions, jobs, triggers.

Plain product words only (symbol, price, qty, order_type); broker field names live in
planrunner.kiwoom and planrunner.sim. Won and quantities are ints; datetimes are aware.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, assert_never

Side = Literal["buy", "sell"]
Exchange = Literal["KRX", "NXT", "SOR"]

# Plan order types. The wire code of each is in planrunner.kiwoom.codes.TRDE_TP.
PRICED_TYPES = frozenset(
    {"limit", "conditional", "limit_ioc", "limit_fok", "stop_limit", "after_hours_single"}
)
UNPRICED_TYPES = frozenset(
    {
        "market",
        "best",
        "priority",
        "market_ioc",
        "best_ioc",
        "market_fok",
        "best_fok",
        "mid",
        "mid_ioc",
        "mid_fok",
        "after_hours_open",
        "after_hours_close",
    }
)
ORDER_TYPES = PRICED_TYPES | UNPRICED_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    """Where something was written: for messages that point back into the plan."""

    file: str
    line: int
    col: int
    path: str  # "$.steps[2].modify"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeSpec:
    """A time as written: a clock time in the plan's zone, or an offset from the run start."""

    text: str
    clock: dt.time | None = None
    offset: dt.timedelta | None = None

    def resolve(self, day: dt.date, run_start: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime:
        if self.offset is not None:
            if run_start is None:
                raise ValueError(f"relative time {self.text!r} needs the run start")
            return run_start + self.offset
        assert self.clock is not None
        return dt.datetime.combine(day, self.clock, tzinfo=tz)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSpec:
    """An order the plan places, or one it adopts from the broker by number."""

    id: str
    symbol: str
    side: Side
    qty: int | None  # None only for an adopted order whose size the broker tells
    price: int | None  # None for unpriced types, or an adopted order of unknown price
    order_type: str = "limit"
    stop_price: int | None = None
    exchange: Exchange = "KRX"
    at: TimeSpec | None = None  # None: when the run starts
    adopt: str | None = None  # the broker's ord_no of an adopted order
    mark: Mark | None = None
    instrument: str | None = None  # declared kind (stock, etf, etn); None: look it up
    from_fill: FromFill | None = None  # priced from another order's fill (a trigger's place)
    sliced: str | None = None  # a slice of a sliced plan order: "2/4 of big"


@dataclass(frozen=True, slots=True, kw_only=True)
class Offset:
    """A move from a base price: `+3%` (percent, any sign) or `+5 ticks` (ticks)."""

    text: str
    percent: Fraction | None = None
    ticks: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FromFill:
    """An order sized and priced from another plan order's fill, resolved when the trigger
    that places it fires: qty = what `order` filled, price / stop_price = its average fill
    price moved by the offset and put on the tick grid the trader's way (a sell rounds
    up, a buy rounds down: never a worse price than the one stated)."""

    order: str
    price: Offset | None = None
    stop_price: Offset | None = None


# ---- actions: the same vocabulary for steps and triggers -------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    spec: OrderSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Modify:
    """Change price and/or qty of what remains.

    `price` is absolute when compile could resolve it; `ticks` is kept as written so the
    runner can re-derive it from the broker's price when the plan does not know the base.
    A qty below the remainder is a partial cancel; a qty above it is refused by the plan.
    `limit` (a ladder's): the new price never passes it (above for a buy, below for a
    sell), checked again at fire time on the price derived from the broker's.
    """

    order: str
    price: int | None = None
    ticks: int | None = None
    qty: int | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    order: str
    qty: int | None = None  # None: all remaining


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """Cancel the remainder, then place exactly the confirmed quantity at market."""

    order: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Replace:
    """Cancel the remainder, then place a new order for the same plan order id."""

    order: str
    qty: int
    price: int | None = None
    order_type: str = "limit"


Action = Place | Modify | Cancel | Market | Replace


def action_name(action: Action) -> str:
    return type(action).__name__.lower()


def action_order(action: Action) -> str:
    match action:
        case Place():
            return action.spec.id
        case Modify() | Cancel() | Market() | Replace():
            return action.order
        case _:
            assert_never(action)


# ---- what the broker will be sent (for show; the runner builds its own at fire time) ----


@dataclass(frozen=True, slots=True, kw_only=True)
class WireRequest:
    """One broker request as `show` prints it; unknown values are placeholders like
    `<entry@2>` (the order number the 2nd request on `entry` will return)."""

    api_id: str
    body: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One timed action. `id` is stable across runs of the same plan file: the journal
    keys on it, so a restart recognises what was already done."""

    id: str
    at: dt.datetime  # aware; for "when the run starts" it is the run start
    at_text: str  # as written ("09:30", "+90s", "start")
    order: str
    action: Action
    requests: tuple[WireRequest, ...] = ()
    source: Mark | None = None


# ---- triggers ---------------------------------------------------------------------------

PriceOp = Literal["below", "above", "at_or_below", "at_or_above"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceCond:
    symbol: str
    op: PriceOp
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FilledCond:
    order: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartiallyFilledCond:
    order: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AllCond:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyCond:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailingCond:
    """True when the price of `symbol` falls `by` below its highest since the trigger
    armed (`side` "below_high": a sell stop) or rises `by` above its lowest ("above_low":
    a buy stop). The level moves only with the best price, and is put on the tick grid
    the trader's way (below_high rounds up, above_low rounds down)."""

    symbol: str
    side: Literal["below_high", "above_low"]
    by: Offset


Condition = PriceCond | FilledCond | PartiallyFilledCond | AllCond | AnyCond | TrailingCond


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    id: str
    when: Condition
    action: Action
    between: tuple[dt.time, dt.time] | None = None  # None: the regular session
    repeat: bool = False  # fire at most once unless the plan says otherwise
    requests: tuple[WireRequest, ...] = ()
    source: Mark | None = None


TRIGGER_JOB = "trigger:"


def trigger_job(trigger_id: str, firing: int = 1) -> str:
    """The journal job of a trigger's n-th firing: `trigger:<id>`, then `trigger:<id>#2`,
    `#3`… (the first keeps the plain id, so a journal from before repeats reads the same)."""
    base = f"{TRIGGER_JOB}{trigger_id}"
    return base if firing <= 1 else f"{base}#{firing}"


def parse_trigger_job(job: str) -> tuple[str, int] | None:
    """`trigger:<id>#N` -> (id, N), `trigger:<id>` -> (id, 1); None for any other job.
    A named trigger's id has no `#` (ids are `[a-z][a-z0-9_-]*`); an unnamed one's has one
    of its own after `order.action` (`exit.market#3f2a9c1b`, plan/rules.trigger_id), whose
    digest may be all digits: a firing's `#N` is the `#` beyond the id's own."""
    if not job.startswith(TRIGGER_JOB):
        return None
    rest = job[len(TRIGGER_JOB) :]
    own = 1 if "." in rest.split("#", 1)[0] else 0
    if rest.count("#") > own:
        tid, _, n = rest.rpartition("#")
        if n.isdigit():
            return tid, int(n)
    return rest, 1


@dataclass(frozen=True, slots=True, kw_only=True)
class OcoGroup:
    """One-cancels-other: two resting orders for the same shares. A fill on one leg
    brings the other down to what is left (its total size becomes its size less the
    first leg's fills); a whole fill cancels it."""

    id: str
    legs: tuple[str, str]
    requests: dict[str, tuple[WireRequest, ...]] = field(default_factory=dict)  # per leg
    source: Mark | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    misfire_grace: dt.timedelta = dt.timedelta(seconds=30)
    on_late: Literal["skip", "fail", "place"] = "skip"
    late_window: dt.timedelta | None = None  # on_late place: how late a job may still be sent
    price_poll: dt.timedelta = dt.timedelta(seconds=1)
    max_order_value: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledPlan:
    """What compile returns: everything the runner and `show` need for one day."""

    name: str
    file: str
    day: dt.date
    tz: dt.tzinfo
    exchange: Exchange
    orders: dict[str, OrderSpec]
    jobs: tuple[Job, ...]  # sorted by (at, plan order)
    triggers: tuple[Trigger, ...]
    policy: Policy
    run_start: dt.datetime | None = None
    warnings: tuple[str, ...] = field(default=())
    params: dict[str, Any] = field(default_factory=dict)  # parameter values in force
    oco: tuple[OcoGroup, ...] = ()
