"""The chronological walk of one day: what the plan knows about each order as its jobs
fire in time order, the exact requests each job sends, and the rules that need that
order of events (see `planrunner.plan.compile` for the job-id and placeholder rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from planrunner.errors import Problem
from planrunner.kiwoom import codes, wire
from planrunner.krx import days, instruments, ticks
from planrunner.model import (
    PRICED_TYPES,
    Action,
    Cancel,
    Job,
    Market,
    Modify,
    OrderSpec,
    Place,
    Replace,
    TimeSpec,
    WireRequest,
)
from planrunner.plan.rules import Ladder, Plan

SEOUL = days.SEOUL


def _windows(order_type: str, day: dt.date, exchange: str) -> tuple[days.Window, ...]:
    """`days.windows_for` (cached there, per type, day, exchange and calendar file)."""
    return days.windows_for(order_type, day, exchange)


def tick_text(n: int) -> str:
    return f"{n:+d} tick" + ("" if abs(n) == 1 else "s")


@dataclass(slots=True)
class Order:
    """What the plan knows about one order at a point of the day (mutable, walk-local)."""

    spec: OrderSpec
    n: int = 0  # requests sent on it so far
    price: int | None = None
    remaining: int | None = None
    placed_by: str | None = None  # job id
    ended_by: str | None = None
    # The number a modify or cancel names now (a placeholder, or an adopted number): the
    # last place or modify's; a partial cancel leaves the rest under the number it named.
    working: str | None = None

    @property
    def by_trigger(self) -> bool:
        """Placed by a trigger: when (and whether) is unknown, so is its number."""
        return self.spec.mark is not None and self.spec.mark.path.startswith("$.triggers")


@dataclass(frozen=True, slots=True, kw_only=True)
class Timed:
    """One timed action laid out on the day, before the walk turns it into a Job."""

    at: dt.datetime
    seq: tuple[int, int, int]
    id: str
    text: str  # as written, or "start"
    time: TimeSpec | None  # None: at the run start
    action: Action | Ladder
    path: str  # where to point a problem about its time
    rung: int = 0


Value = int | str


def wire_requests(
    action: Action,
    spec: OrderSpec,
    target: Callable[[int], str],
    *,
    price: Value | None,
    reduce_by: Value | None,
) -> tuple[WireRequest, ...]:
    """The exact requests of one action; `target(i)` gives the number the i-th of them
    acts on (for i > 0: after requests 0..i-1 of this same action)."""
    common = {"symbol": spec.symbol, "exchange": spec.exchange}
    if isinstance(action, Place):
        s = action.spec
        qty: Value = s.qty or 0
        place_price: Value | None = s.price
        stop: Value | None = s.stop_price
        if s.from_fill is not None:
            ff = s.from_fill
            qty = f"<{ff.order} filled>"
            if ff.price is not None:
                place_price = fill_text(ff.order, ff.price.text, s.side)
            if ff.stop_price is not None:
                stop = fill_text(ff.order, ff.stop_price.text, s.side)
        return (
            wire.place_request(
                side=s.side,
                qty=qty,
                price=place_price,
                order_type=s.order_type,
                stop_price=stop,
                **common,
            ),
        )
    if isinstance(action, Cancel):
        return (wire.cancel_request(orig_ord_no=target(0), qty=action.qty or 0, **common),)
    if isinstance(action, Market | Replace):
        cancel = wire.cancel_request(orig_ord_no=target(0), qty=0, **common)
        if isinstance(action, Market):
            new = wire.place_request(
                side=spec.side, qty="<confirmed qty>", price=None, order_type="market", **common
            )
        else:
            # The new total counts what filled before the cancel: the runner sends the rest.
            new = wire.place_request(
                side=spec.side,
                qty=f"<{action.qty} - filled>",
                price=price,
                order_type=action.order_type,
                stop_price=spec.stop_price,
                **common,
            )
        return (cancel, new)
    out: list[WireRequest] = []
    if reduce_by is not None:
        out.append(wire.cancel_request(orig_ord_no=target(len(out)), qty=reduce_by, **common))
    if price is not None:
        out.append(wire.modify_request(orig_ord_no=target(len(out)), price=price, qty=0, **common))
    return tuple(out)


def fill_text(order: str, offset: str, side: str) -> str:
    """The placeholder of a price from a fill: `<entry fill +3% up>` (a sell rounds up
    onto the grid, a buy down)."""
    return f"<{order} fill {offset} {'up' if side == 'sell' else 'down'}>"


def oco_requests(leg: OrderSpec, other: str) -> tuple[WireRequest, ...]:
    """What a fill on `other` sends on `leg`: a cancel of the excess over what `other`
    left (all of it once `other` filled whole), naming the leg's newest number."""
    return (
        wire.cancel_request(
            orig_ord_no=f"<{leg.id}>",
            qty=f"<{leg.id} open over what {other} left>",
            symbol=leg.symbol,
            exchange=leg.exchange,
        ),
    )


def _value(qty: int | None, price: int | None) -> int | None:
    return None if qty is None or price is None else qty * price


REMAINDERS = ("original", "cancel")
PADDINGS = ("7", "none")


class Walk:
    """`remainder`: where the broker lists a partial cancel's rest: "original" (under the
    number cancelled) or "cancel" (under the cancel's own new number; the next request
    then names that number). `padding`: "7" or "none" (an adopted number is sent as the
    broker writes it: `0000139` or `139`)."""

    def __init__(
        self, plan: Plan, day: dt.date, *, remainder: str = "original", padding: str = "7"
    ) -> None:
        if remainder not in REMAINDERS or padding not in PADDINGS:
            raise ValueError(f"remainder={remainder!r}, padding={padding!r}")
        self.plan = plan
        self.day = day
        self.remainder = remainder
        self.problems: list[Problem] = []
        self.state = {
            oid: Order(
                spec=s,
                price=s.price,
                remaining=s.qty,
                working=s.adopt if s.adopt is None or padding == "7" else str(int(s.adopt)),
            )
            for oid, s in plan.orders.items()
        }
        self.stopped: set[str] = set()  # ladders that reached their limit

    def add(self, path: str, message: str) -> None:
        self.problems.append(self.plan.problem(path, message))

    def check_value(self, path: str, qty: int | None, price: int | None, what: str = "") -> None:
        cap = self.plan.policy.max_order_value
        value = _value(qty, price)
        if cap is not None and value is not None and value > cap:
            self.add(
                path,
                f"order value {qty} x {price:,}{what} = {value:,} won exceeds "
                f"policy.max_order_value {cap:,}",
            )

    def check_hours(self, t: Timed, order_type: str, exchange: str) -> None:
        if t.time is None or t.time.offset is not None:
            return  # at or after the run start: the runner checks when it fires
        windows = _windows(order_type, self.day, exchange)
        local = t.at.astimezone(SEOUL).time()
        if not any(w.contains(local) for w in windows):
            self.add(
                t.path,
                f"{t.text} is outside the hours of a {order_type} order on {exchange} "
                f"on {self.day.isoformat()}: {days.describe_windows(windows)}",
            )

    def job(self, t: Timed) -> Job | None:
        action = t.action
        oid = action.order if not isinstance(action, Place) else action.spec.id
        o = self.state[oid]
        if isinstance(action, Place):
            o.placed_by, o.n, o.working = t.id, 1, f"<{oid}@1>"
            self.check_hours(t, action.spec.order_type, action.spec.exchange)
            where = t.path.removesuffix(".at")
            self.check_value(f"{where}.qty", action.spec.qty, action.spec.price)
            reqs = wire_requests(action, o.spec, lambda i: "", price=None, reduce_by=None)
            return Job(
                id=t.id,
                at=t.at,
                at_text=t.text,
                order=oid,
                action=action,
                requests=reqs,
                source=self.plan.mark(where),
            )
        if isinstance(action, Ladder) and t.id.split("#")[0] in self.stopped:
            return None
        if o.spec.adopt is None and o.placed_by is None and not o.by_trigger:
            placed = next((s for s in self.plan.orders.values() if s.id == oid), None)
            when = (
                (placed.at.text if placed.at else "the run start")
                if placed and not o.by_trigger
                else "a trigger"
            )
            self.add(t.path, f"order '{oid}' is not placed yet at {t.text} (placed at {when})")
            return None
        if o.ended_by is not None:
            self.add(
                t.path,
                f"order '{oid}' has nothing left at {t.text}: {o.ended_by} already closed it",
            )
            return None
        step_path = t.path.rsplit(".", 2 if isinstance(action, Ladder) else 1)[0]
        return self.act(t, o, action, step_path)

    def act(self, t: Timed, o: Order, action: Action | Ladder, step: str) -> Job | None:
        spec = o.spec
        price: Value | None = None
        reduce_by: int | None = None
        kind = "modify" if isinstance(action, Ladder) else type(action).__name__.lower()
        base = f"{step}.{'ladder' if isinstance(action, Ladder) else kind}"
        self.check_hours(
            t,
            "market"
            if isinstance(action, Market)
            else action.order_type
            if isinstance(action, Replace)
            else spec.order_type,
            spec.exchange,
        )
        if isinstance(action, Ladder):
            if t.rung == 1 and not self.ladder_start(o, action, base):
                self.stopped.add(t.id.split("#")[0])
                return None
            if o.price is not None:
                new = ticks.step(o.price, action.ticks, instruments.order_kind(spec))
                if (new > action.limit) if spec.side == "buy" else (new < action.limit):
                    self.stopped.add(t.id.split("#")[0])
                    return None
            action = Modify(order=o.spec.id, ticks=action.ticks, limit=action.limit)
        if isinstance(action, Modify):
            if action.qty is not None:
                reduce_by = self.reduce(o, action.qty, f"{base}.qty")
                if reduce_by is None:
                    return None
            if action.price is not None or action.ticks is not None:
                if spec.order_type not in PRICED_TYPES:
                    self.add(base, f"a {spec.order_type} order has no price to modify")
                    return None
                if action.ticks is not None:
                    if o.price is not None:
                        o.price = ticks.step(o.price, action.ticks, instruments.order_kind(spec))
                    price = (
                        o.price
                        if o.price is not None
                        else f"<{spec.id} price {tick_text(action.ticks)}>"
                    )
                else:
                    o.price = price = action.price
                action = replace(action, price=o.price)
                if isinstance(t.action, Modify):
                    self.check_value(f"{base}.price", o.remaining, o.price)
        elif isinstance(action, Cancel):
            if action.qty is None:
                o.ended_by = f"{t.id} (cancel at {t.text})"
            elif (
                self.reduce(o, (o.remaining or 0) - action.qty, f"{base}.qty", cancel=action.qty)
                is None
            ):
                return None
        elif isinstance(action, Market):
            o.ended_by = f"{t.id} (market at {t.text})"
        elif isinstance(action, Replace):
            price = action.price if action.price is not None else o.price
            if price is None and action.order_type in PRICED_TYPES:
                price = f"<{spec.id} price>"
            action = replace(action, price=price if isinstance(price, int) else None)
            o.price = action.price
            o.remaining = action.qty
            self.check_value(f"{base}.qty", action.qty, action.price)
        first = o.n

        rest_moves = self.remainder == "cancel"

        def target(i: int) -> str:
            if o.by_trigger:
                return f"<{spec.id}>"
            if i > 0 and rest_moves:  # request i-1 was a partial cancel: its number holds
                return f"<{spec.id}@{first + i}>"
            return o.working or f"<{spec.id}@{o.n}>"

        reqs = wire_requests(action, spec, target, price=price, reduce_by=reduce_by)
        for i, r in enumerate(reqs):
            # A place or a modify: its number holds the order; so does a partial cancel's
            # when the broker lists the rest under it (a full cancel ends the order).
            partial = r.api_id == codes.CANCEL and r.body.get("cncl_qty") != "0"
            if r.api_id != codes.CANCEL or (partial and rest_moves):
                o.working = f"<{spec.id}@{first + i + 1}>"
        o.n = first + len(reqs)
        return Job(
            id=t.id,
            at=t.at,
            at_text=t.text,
            order=spec.id,
            action=action,
            requests=reqs,
            source=self.plan.mark(step),
        )

    def reduce(self, o: Order, qty: int, path: str, cancel: int | None = None) -> int | None:
        """The partial cancel that brings the remainder down to `qty`, or None (reported)."""
        have = o.remaining
        if have is None:
            self.add(
                path,
                f"the remaining qty of '{o.spec.id}' is unknown (adopted without qty): "
                "give the adopted order its qty",
            )
            return None
        if cancel is not None and qty <= 0:
            self.add(
                path, f"cancel qty {cancel} is all that remains ({have}): omit qty to cancel all"
            )
            return None
        if qty == have:
            self.add(path, f"qty {qty} is what remains already: nothing to modify")
            return None
        if qty > have:
            self.add(
                path,
                f"qty {qty} is more than the {have} that remain: a modify cannot add, "
                "use replace to add",
            )
            return None
        o.remaining = qty
        return have - qty

    def ladder_start(self, o: Order, lad: Ladder, base: str) -> bool:
        """Check a ladder at its first rung; False if it cannot move."""
        side = o.spec.side
        self.check_value(f"{base}.limit", o.remaining, lad.limit, " (ladder limit)")
        if o.price is None:
            return True
        if (lad.limit < o.price) if side == "buy" else (lad.limit > o.price):
            way = "below" if side == "buy" else "above"
            self.add(
                f"{base}.limit",
                f"limit {lad.limit} is {way} the ladder's first price {o.price}: "
                f"a {side} ladder moves {'up' if side == 'buy' else 'down'}",
            )
            return False
        if lad.limit == o.price:
            self.add(
                f"{base}.limit", f"limit {lad.limit} is the ladder's first price: it never moves"
            )
            return False
        return True
