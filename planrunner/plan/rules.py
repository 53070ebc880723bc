"""Schema-valid plan data -> frozen dataclasses, plus the cross-field rules that need no day.

`build(loaded)` assumes `schema.check(loaded)` found nothing. It returns the `Plan` and
the problems it found; actions that name an unknown order are dropped from the plan (and
reported) so `compile` can still look for the day-dependent problems in the same run.

Rules here: unknown order ids, duplicate order and trigger ids, priced type without a
price / unpriced type with one, stop_limit without stop_price, prices off the KRX tick
grid (naming the two nearest valid prices), `at` on an adopted order or a ladder step,
a ladder climbing the wrong way, `between` backwards, `date` not a KRX trading day.
Rules that need the day or the order of events live in `compile`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from planrunner.clock import parse_duration
from planrunner.errors import PlanError, Problem
from planrunner.krx import days, instruments, ticks
from planrunner.model import (
    PRICED_TYPES,
    Action,
    AllCond,
    AnyCond,
    Cancel,
    Condition,
    Exchange,
    FilledCond,
    FromFill,
    Mark,
    Market,
    Modify,
    OcoGroup,
    Offset,
    OrderSpec,
    PartiallyFilledCond,
    Place,
    Policy,
    PriceCond,
    PriceOp,
    Replace,
    TimeSpec,
    TrailingCond,
)
from planrunner.plan.load import Loaded, load_file


def parse_time(text: str) -> TimeSpec:
    """`"09:30"`, `"9:30:05"` (clock, plan zone) or `"+90s"` (offset from the run start)."""
    if text.startswith("+"):
        return TimeSpec(text=text, offset=parse_duration(text[1:]))
    h, m, *sec = (int(p) for p in text.split(":"))
    return TimeSpec(text=text, clock=dt.time(h, m, sec[0] if sec else 0))


def parse_ticks(text: str) -> int:
    """`"+1 tick"` -> 1, `"-2 ticks"` -> -2."""
    return int(text.split()[0])


def parse_offset(text: str) -> Offset:
    """`"+3%"`, `"-1.5%"`, `"2%"` (a percent) or `"+5 ticks"`, `"5 ticks"` (ticks)."""
    if text.endswith("%"):
        return Offset(text=text, percent=Fraction(text[:-1]))
    return Offset(text=text, ticks=int(text.split()[0]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Ladder:
    """Sugar for a series of modifies; compile expands it into one job per rung."""

    order: str
    every: dt.timedelta
    ticks: int
    start: TimeSpec
    until: TimeSpec  # the last rung's time at the latest (from `times` when it is given)
    limit: int
    times: int | None = None  # as written: how many rungs (`until` is then derived)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    index: int
    at: TimeSpec | None  # None only for a ladder
    action: Action | Ladder
    path: str  # "$.steps[3]"


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    id: str
    when: Condition
    action: Action
    between: tuple[dt.time, dt.time] | None
    repeat: bool
    path: str


# What a run can tell a notification service about (plan `notify.events`).
NOTIFY_EVENTS = ("fill", "rejected", "trigger", "market", "attention", "end")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    urls: tuple[str, ...]
    events: tuple[str, ...] = NOTIFY_EVENTS


def _notify(raw: Any) -> Notify | None:
    if raw is None:
        return None
    return Notify(urls=tuple(raw["urls"]), events=tuple(raw.get("events", NOTIFY_EVENTS)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    file: str
    name: str
    description: str
    date: dt.date | None
    exchange: Exchange
    orders: dict[str, OrderSpec]  # declared orders and orders placed by steps/triggers
    steps: tuple[Step, ...]
    triggers: tuple[TriggerSpec, ...]
    policy: Policy
    source: Loaded  # for marks: where each value was written
    params: dict[str, Any] = field(default_factory=dict)  # the values in force
    notify: Notify | None = None  # where messages about the run go
    rates: dict[str, float] | None = None  # the report's fee/tax rates, if the plan sets them
    oco: tuple[OcoGroup, ...] = ()

    @property
    def journal_name(self) -> str:
        """The journal's identity: the name, and a digest of the parameter values."""
        from planrunner.plan.params import identity

        return identity(self.name, self.params)

    def mark(self, path: str) -> Mark:
        line, col = self.source.mark(path)
        return Mark(file=self.file, line=line, col=col, path=path)

    def problem(self, path: str, message: str) -> Problem:
        return self.source.problem(path, message)


def off_grid(price: int, kind: str = "stock") -> str | None:
    """The tick-grid message for a price, or None if it is valid."""
    if ticks.on_grid(price, kind):
        return None
    low, high = ticks.nearest_valid(price, kind)
    grid = "KRX tick grid" if kind == "stock" else f"KRX {kind.upper()} tick grid"
    return (
        f"{price} is not on the {grid} (tick {ticks.tick_size(price, kind)} at this price): "
        f"nearest valid prices are {low} and {high}"
    )


def not_trading_day(day: dt.date) -> str | None:
    if days.is_trading_day(day):
        return None
    why = days.holiday_name(day) or f"a {day.strftime('%A')}"
    return f"{day.isoformat()} is not a KRX trading day ({why})"


class _Builder:
    def __init__(
        self, loaded: Loaded, kinds: Mapping[str, str] | None = None, *, defer: bool = False
    ) -> None:
        self.loaded = loaded
        self.kinds = kinds or {}  # code -> kind the broker gave, for undeclared orders
        self.defer = defer  # leave the grid of codes of unknown kind for a second pass
        self.data: dict[str, Any] = loaded.data
        self.problems: list[Problem] = []
        self.exchange: Exchange = self.data.get("exchange", "KRX")
        self.orders: dict[str, OrderSpec] = {}
        self.placed_at: dict[str, str] = {}  # order id -> path that defines it
        self.groups: dict[str, tuple[str, ...]] = {}  # a sliced order -> its slices' ids

    def mark(self, path: str) -> Mark:
        line, col = self.loaded.mark(path)
        return Mark(file=self.loaded.file, line=line, col=col, path=path)

    def add(self, path: str, message: str) -> None:
        self.problems.append(self.loaded.problem(path, message))

    def order(
        self,
        oid: str,
        raw: dict[str, Any],
        path: str,
        *,
        at: TimeSpec | None,
        sliced: str | None = None,
    ) -> None:
        otype = raw.get("type", "limit")
        price = raw.get("price")
        stop = raw.get("stop_price")
        from_fill = self.from_fill(raw, path)
        spec = OrderSpec(
            id=oid,
            symbol=raw["symbol"],
            side=raw["side"],
            qty=None if raw.get("qty") is None else int(raw["qty"]),
            price=None if price is None or isinstance(price, str) else int(price),
            order_type=otype,
            stop_price=None if stop is None or isinstance(stop, str) else int(stop),
            exchange=raw.get("exchange", self.exchange),
            at=at,
            adopt=raw.get("adopt"),
            mark=self.mark(path),
            instrument=raw.get("instrument") or self.kinds.get(raw["symbol"]),
            from_fill=from_fill,
            sliced=sliced,
        )
        if oid in self.placed_at:
            self.add(f"{path}.id", f"order id '{oid}' is already used at {self.placed_at[oid]}")
            return
        if spec.adopt is not None:
            other = next((o.id for o in self.orders.values() if o.adopt == spec.adopt), None)
            if other is not None:
                self.add(
                    f"{path}.adopt",
                    f"order {spec.adopt} would be adopted twice ('{other}' and '{oid}'): one "
                    "order at the broker is managed by one order of the plan",
                )
        self.placed_at[oid] = path
        self.orders[oid] = spec
        # A relative price without from_fill is reported once, as that (not as missing).
        self.check_prices(spec, path, written={k for k in ("price", "stop_price") if k in raw})

    def from_fill(self, raw: dict[str, Any], path: str) -> FromFill | None:
        """The `from_fill` of a place, checked; relative prices without it are refused."""
        source = raw.get("from_fill")
        offsets = {k: raw[k] for k in ("price", "stop_price") if isinstance(raw.get(k), str)}
        if source is None:
            for key, text in offsets.items():
                self.add(
                    f"{path}.{key}",
                    f"{text} is relative to a fill: add from_fill (the order whose average "
                    "fill price it counts from), or write won",
                )
            return None
        if not path.startswith("$.triggers"):
            self.add(
                f"{path}.from_fill",
                "from_fill is for an order a trigger places when another order fills "
                f"(a trigger with when: {{filled: {{order: {source}}}}})",
            )
        if "qty" in raw:
            self.add(
                f"{path}.qty",
                f"with from_fill the qty is what {source} filled: remove qty",
            )
        return FromFill(
            order=source,
            price=parse_offset(offsets["price"]) if "price" in offsets else None,
            stop_price=parse_offset(offsets["stop_price"]) if "stop_price" in offsets else None,
        )

    def sliced(self, oid: str, raw: dict[str, Any], path: str, at: TimeSpec | None) -> None:
        """An order with `slices: N` and `every`: N orders `oid-1` … `oid-N`, each its own
        order (own job ids, own lineage), placed `every` apart from `at` (or from the run
        start), the qty shared out as evenly as whole shares allow (the first slices take
        the odd shares). Anything wrong is reported and the order is kept whole."""
        n, every_text = raw.get("slices"), raw.get("every")
        why: tuple[str, str] | None = None
        if n is None:
            why = f"{path}.every", "every is the time between slices: give slices too"
        elif every_text is None:
            why = f"{path}.slices", "slices needs every: the time between slices (e.g. 5m)"
        elif raw.get("adopt") is not None:
            why = f"{path}.slices", "an adopted order is one order at the broker: remove slices"
        elif raw["qty"] < n:
            why = f"{path}.slices", f"{n} slices of {raw['qty']} shares: a slice needs 1 share"
        elif at is not None and _nth(at, parse_duration(every_text), n) is None:
            last = _key(at) + parse_duration(every_text) * (n - 1)
            msg = f"{n} slices every {every_text} from {at.text} end after midnight"
            why = f"{path}.slices", f"{msg} ({_clock(last)}): a plan is one day"
        if why or n is None or every_text is None:
            if why:
                self.add(*why)
            self.order(oid, raw, path, at=at)
            return
        every = parse_duration(every_text)
        qty: int = raw["qty"]
        ids = []
        for k in range(1, n + 1):
            if at is None:
                off = every * (k - 1)
                t = None if k == 1 else TimeSpec(text=f"+{off.total_seconds():g}s", offset=off)
            else:
                t = _nth(at, every, k)
            size = qty // n + (1 if k <= qty % n else 0)
            sid = f"{oid}-{k}"
            self.order(sid, {**raw, "qty": size}, path, at=t, sliced=f"{k}/{n} of {oid}")
            ids.append(sid)
        self.groups[oid] = tuple(ids)

    def group(self, raw: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
        """(action, sliced order, body) when a step or trigger acts on a sliced order as a
        whole; None otherwise."""
        for name in ("modify", "cancel", "market", "replace", "ladder"):
            body = raw.get(name)
            if isinstance(body, dict) and body.get("order") in self.groups:
                return name, body["order"], body
        return None

    def for_slices(
        self, name: str, oid: str, body: dict[str, Any], p: str
    ) -> list[Action | Ladder]:
        """A step on a sliced order as a whole: the same action on every slice, for what
        means the same on each (a price, a cancel of all, market, a ladder). A size is
        one slice's business: name the slice."""
        ids = self.groups[oid]
        what = {
            "modify": "a modify of qty" if body.get("qty") is not None else "",
            "cancel": "a cancel of part" if body.get("qty") is not None else "",
            "replace": "a replace",
        }.get(name, "")
        if what:
            self.add(
                f"{p}.order",
                f"'{oid}' is sliced into {len(ids)} orders ({', '.join(ids)}): "
                f"{what} names one of them",
            )
            return []
        return [self.acted(name, body, p, self.orders[sid]) for sid in ids]

    def check_prices(self, spec: OrderSpec, path: str, written: set[str] | None = None) -> None:
        priced = spec.order_type in PRICED_TYPES
        ff = spec.from_fill
        written = written or set()
        has_price = spec.price is not None or (ff is not None and ff.price is not None)
        has_stop = spec.stop_price is not None or (ff is not None and ff.stop_price is not None)
        if ff is None:
            has_price = has_price or "price" in written
            has_stop = has_stop or "stop_price" in written
        if spec.adopt is None and priced and not has_price:
            self.add(path, f"a {spec.order_type} order needs a price")
        if not priced and has_price:
            self.add(f"{path}.price", f"a {spec.order_type} order has no price: remove it")
        if spec.order_type == "stop_limit" and not has_stop:
            self.add(path, "a stop_limit order needs stop_price (sent as cond_uv)")
        if spec.order_type != "stop_limit" and has_stop:
            self.add(f"{path}.stop_price", "stop_price is only for type: stop_limit")
        for key, value in (("price", spec.price), ("stop_price", spec.stop_price)):
            if value is not None and (msg := self.off_grid(value, spec)):
                self.add(f"{path}.{key}", msg)

    def off_grid(self, price: int, spec: OrderSpec) -> str | None:
        """off_grid on the order's kind; nothing yet for a code of unknown kind when the
        broker is to be asked first (`defer`)."""
        if self.defer and spec.instrument is None and instruments.known(spec.symbol) is None:
            return None
        return off_grid(price, instruments.order_kind(spec))

    def action(self, raw: dict[str, Any], path: str) -> Action | Ladder | None:
        for name, body in raw.items():
            p = f"{path}.{name}"
            if name == "place":
                self.order(body["id"], body, p, at=None)
                return Place(spec=self.orders[body["id"]]) if body["id"] in self.orders else None
            if name not in ("modify", "cancel", "market", "replace", "ladder"):
                continue
            target = body["order"]
            if target not in self.placed_at:
                known = ", ".join(self.placed_at) or "none"
                self.add(f"{p}.order", f"unknown order '{target}' (orders: {known})")
                return None
            return self.acted(name, body, p, self.orders[target])
        return None

    def acted(self, name: str, body: dict[str, Any], p: str, spec: OrderSpec) -> Action | Ladder:
        oid = spec.id
        if name == "modify":
            raw_price = body.get("price")
            price: int | None = None
            tick: int | None = None
            if isinstance(raw_price, str):
                tick = parse_ticks(raw_price)
            elif raw_price is not None:
                price = int(raw_price)
            if price is not None and (msg := self.off_grid(price, spec)):
                self.add(f"{p}.price", msg)
            return Modify(order=oid, price=price, ticks=tick, qty=body.get("qty"))
        if name == "cancel":
            return Cancel(order=oid, qty=body.get("qty"))
        if name == "market":
            return Market(order=oid)
        if name == "replace":
            if body.get("price") is not None and (msg := self.off_grid(body["price"], spec)):
                self.add(f"{p}.price", msg)
            otype = body.get("type", spec.order_type)
            if otype not in PRICED_TYPES and body.get("price") is not None:
                self.add(f"{p}.price", f"a {otype} order has no price: remove it")
            return Replace(order=oid, qty=body["qty"], price=body.get("price"), order_type=otype)
        by = parse_ticks(body["by"])
        if (spec.side == "buy") != (by > 0):
            way = "up (+N ticks)" if spec.side == "buy" else "down (-N ticks)"
            self.add(f"{p}.by", f"a {spec.side} ladder moves the price {way}")
        if msg := self.off_grid(body["limit"], spec):
            self.add(f"{p}.limit", msg)
        start, every = parse_time(body["from"]), parse_duration(body["every"])
        times = body.get("times")
        if times is not None:
            until = _nth(start, every, times)
            if until is None:
                last = _key(start) + every * (times - 1)
                self.add(
                    f"{p}.times",
                    f"{times} rungs every {body['every']} from {start.text} end after "
                    f"midnight ({_clock(last)}): a plan is one day",
                )
                until = start
        else:
            until = parse_time(body["until"])
        if (start.offset is None) != (until.offset is None):
            self.add(f"{p}.until", "from and until must both be clock times or both offsets")
        elif _key(until) < _key(start):
            self.add(f"{p}.until", f"until {until.text} is before from {start.text}")
        return Ladder(
            order=oid,
            every=every,
            ticks=by,
            start=start,
            until=until,
            limit=body["limit"],
            times=times,
        )

    def trigger_rules(self, raw: dict[str, Any], path: str) -> None:
        """A place from a fill fires on that fill; a trailing stop stands alone, once."""
        place = raw.get("place")
        when = raw["when"]
        if isinstance(place, dict) and "from_fill" in place:
            source = place["from_fill"]
            if source not in self.placed_at or source == place["id"]:
                known = ", ".join(o for o in self.placed_at if o != place["id"]) or "none"
                self.add(f"{path}.place.from_fill", f"unknown order '{source}' (orders: {known})")
            elif when != {"filled": {"order": source}}:
                self.add(
                    f"{path}.when",
                    f"a place from_fill: {source} is sized and priced from that fill: write "
                    f"when: {{filled: {{order: {source}}}}} (the fill is then final)",
                )
        self.trailing_rules(when, f"{path}.when", nested=False)
        if "trailing" in when and raw.get("repeat"):
            self.add(
                f"{path}.repeat",
                "a trailing stop fires once (its level would have to start again): remove repeat",
            )

    def trailing_rules(self, cond: dict[str, Any], path: str, *, nested: bool) -> None:
        kind, body = next(iter(cond.items()))
        if kind in ("all", "any"):
            for i, c in enumerate(body):
                self.trailing_rules(c, f"{path}.{kind}[{i}]", nested=True)
            return
        if kind != "trailing":
            return
        if nested:
            self.add(
                f"{path}.trailing",
                "a trailing condition stands alone (its level follows the price since the "
                "trigger armed): use it as the whole when of its own trigger",
            )
        side = "below_high" if "below_high" in body else "above_low"
        by = parse_offset(body[side])
        if (by.percent is not None and by.percent <= 0) or (by.ticks is not None and by.ticks <= 0):
            self.add(f"{path}.trailing.{side}", "the trailing distance must be more than 0")
        elif by.percent is not None and by.percent >= 30:
            self.add(
                f"{path}.trailing.{side}",
                f"{body[side]} is beyond the day's price limits (±30%): the level could "
                "never be reached",
            )

    def oco_groups(self, raw: list[dict[str, Any]]) -> tuple[OcoGroup, ...]:
        """Two legs each: known, distinct, in no other group, same symbol, side and size."""
        out: list[OcoGroup] = []
        seen: dict[str, str] = {}
        legs_of: dict[str, str] = {}
        for i, g in enumerate(raw):
            path = f"$.oco[{i}]"
            gid = g["id"]
            if gid in seen:
                self.add(f"{path}.id", f"oco id '{gid}' is already used at {seen[gid]}")
                continue
            seen[gid] = path
            a, z = g["legs"]
            bad = False
            for k, leg in enumerate((a, z)):
                where = f"{path}.legs[{k}]"
                if leg not in self.orders:
                    self.add(where, f"unknown order '{leg}' (orders: {', '.join(self.orders)})")
                    bad = True
                elif leg in legs_of:
                    self.add(where, f"order '{leg}' is already a leg of oco {legs_of[leg]}")
                    bad = True
            if bad:
                continue
            if a == z:
                self.add(f"{path}.legs[1]", f"the two legs are the same order '{a}'")
                continue
            sa, sz = self.orders[a], self.orders[z]
            problem = ""
            if (sa.symbol, sa.side) != (sz.symbol, sz.side):
                problem = (
                    f"the legs must be the same shares: {a} is {sa.side} {sa.symbol}, "
                    f"{z} is {sz.side} {sz.symbol}"
                )
            elif (sa.from_fill is None) != (sz.from_fill is None) or (
                sa.from_fill and sz.from_fill and sa.from_fill.order != sz.from_fill.order
            ):
                problem = (
                    "the legs must be the same size: both with a qty, or both from_fill "
                    "of the same order"
                )
            elif sa.from_fill is None and (sa.qty is None or sz.qty is None):
                unknown = a if sa.qty is None else z
                problem = f"the size of '{unknown}' is unknown: give the adopted order its qty"
            elif sa.qty != sz.qty:
                problem = f"the legs must be the same size: {a} is {sa.qty}, {z} is {sz.qty}"
            if problem:
                self.add(f"{path}.legs", problem)
                continue
            legs_of[a] = legs_of[z] = gid
            out.append(OcoGroup(id=gid, legs=(a, z), source=self.mark(path)))
        return tuple(out)


def _clock(d: dt.timedelta) -> str:
    """A time of day from 00:00: `09:35`, `04:35 the next day`, `12:35 3 days later`."""
    secs = int(d.total_seconds())
    h, m, s = secs // 3600 % 24, secs // 60 % 60, secs % 60
    text = f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    later = secs // 86400
    return text + ("" if not later else " the next day" if later == 1 else f" {later} days later")


def _nth(start: TimeSpec, every: dt.timedelta, times: int) -> TimeSpec | None:
    """The time of a ladder's last rung of `times` (None: a clock time past midnight)."""
    span = every * (times - 1)
    if start.offset is not None:
        off = start.offset + span
        return TimeSpec(text=f"+{off.total_seconds():g}s", offset=off)
    end = _key(start) + span
    if end >= dt.timedelta(days=1):
        return None
    clock = (dt.datetime.min + end).time()
    return TimeSpec(text=_clock(end), clock=clock)


def _key(t: TimeSpec) -> dt.timedelta:
    if t.offset is not None:
        return t.offset
    assert t.clock is not None
    return dt.timedelta(hours=t.clock.hour, minutes=t.clock.minute, seconds=t.clock.second)


def _condition(raw: dict[str, Any]) -> Condition:
    kind, body = next(iter(raw.items()))
    if kind == "price":
        ops: tuple[PriceOp, ...] = ("below", "above", "at_or_below", "at_or_above")
        op = next(k for k in ops if k in body)
        return PriceCond(symbol=body["symbol"], op=op, value=body[op])
    if kind == "filled":
        return FilledCond(order=body["order"])
    if kind == "partially_filled":
        return PartiallyFilledCond(order=body["order"])
    if kind == "trailing":
        side: Literal["below_high", "above_low"] = (
            "below_high" if "below_high" in body else "above_low"
        )
        return TrailingCond(symbol=body["symbol"], side=side, by=parse_offset(body[side]))
    items = tuple(_condition(c) for c in body)
    return AllCond(items=items) if kind == "all" else AnyCond(items=items)


def _condition_orders(raw: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(order id, path) of every fill condition, for the unknown-id rule."""
    kind, body = next(iter(raw.items()))
    if kind in ("filled", "partially_filled"):
        return [(body["order"], f"{path}.{kind}.order")]
    if kind in ("all", "any"):
        return [x for i, c in enumerate(body) for x in _condition_orders(c, f"{path}.{kind}[{i}]")]
    return []


ACTION_KEYS = ("place", "modify", "cancel", "market", "replace")


def trigger_id(raw: dict[str, Any]) -> str:
    """The id of a trigger written without one, from its content: `exit.market#3f2a9c1b`
    (its order, its action, and a digest of everything it says). It does not move when
    other triggers are inserted or removed; editing the trigger makes it a new one."""
    key = next((k for k in ACTION_KEYS if k in raw), "action")
    body = raw.get(key)
    order = ""
    if isinstance(body, dict):
        order = str(body.get("id" if key == "place" else "order", ""))
    import hashlib  # lazy: only for a trigger without an id (~4 ms at import)

    content = {k: v for k, v in raw.items() if k != "id"}
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()[:8]
    return f"{order}.{key}#{digest}"


def _policy(raw: dict[str, Any]) -> Policy:
    kw: dict[str, Any] = {}
    for key in ("misfire_grace", "price_poll"):
        if key in raw:
            kw[key] = parse_duration(raw[key])
    if isinstance(raw.get("on_late"), dict):
        kw["on_late"] = "place"
        kw["late_window"] = parse_duration(raw["on_late"]["place"])
    elif "on_late" in raw:
        kw["on_late"] = raw["on_late"]
    if "max_order_value" in raw:
        kw["max_order_value"] = raw["max_order_value"]
    return Policy(**kw)


def build(
    loaded: Loaded, kinds: Mapping[str, str] | None = None, *, defer: bool = False
) -> tuple[Plan, list[Problem]]:
    """Dataclasses from schema-valid data, and the problems found on the way. `kinds`
    (code -> stock/etf/etn, from the broker) is the kind of orders that declare none;
    `defer` leaves the prices of codes of unknown kind unchecked (see load_plan)."""
    b = _Builder(loaded, kinds, defer=defer)
    data = b.data
    for oid, raw in data["orders"].items():
        path = f"$.orders.{oid}"
        at = parse_time(raw["at"]) if "at" in raw else None
        if "adopt" in raw and at is not None:
            b.add(f"{path}.at", "an adopted order is already at the broker: remove at")
            at = None
        if "slices" in raw or "every" in raw:
            b.sliced(oid, raw, path, at)
            continue
        b.order(oid, raw, path, at=at)
    # Orders placed by steps and triggers can be named anywhere in the plan.
    for section in ("steps", "triggers"):
        for i, raw in enumerate(data.get(section, [])):
            if "place" in raw:
                b.action({"place": raw["place"]}, f"$.{section}[{i}]")
    steps = []
    for i, raw in enumerate(data.get("steps", [])):
        path = f"$.steps[{i}]"
        if group := b.group(raw):
            name, oid, body = group
            if "ladder" in raw and "at" in raw:
                b.add(f"{path}.at", "a ladder takes its times from from/until: remove at")
            at = None if "ladder" in raw else parse_time(raw["at"])
            for each in b.for_slices(name, oid, body, f"{path}.{name}"):
                steps.append(Step(index=i, at=at, action=each, path=path))
            continue
        action = b.action({k: v for k, v in raw.items() if k != "place"}, path)
        if "place" in raw:
            action = Place(spec=b.orders[raw["place"]["id"]])
        if "ladder" in raw and "at" in raw:
            b.add(f"{path}.at", "a ladder takes its times from from/until: remove at")
        if action is not None:
            at = None if "ladder" in raw else parse_time(raw["at"])
            steps.append(Step(index=i, at=at, action=action, path=path))
    triggers = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(data.get("triggers", [])):
        path = f"$.triggers[{i}]"
        tid = raw.get("id") or trigger_id(raw)
        if "id" not in raw and tid in seen:
            n = 2
            while f"{tid}~{n}" in seen:
                n += 1
            tid = f"{tid}~{n}"
        if tid in seen:
            b.add(f"{path}.id", f"trigger id '{tid}' is already used at {seen[tid]}")
        seen[tid] = path
        for oid, where in _condition_orders(raw["when"], f"{path}.when"):
            if oid in b.groups:
                ids = b.groups[oid]
                b.add(
                    where,
                    f"'{oid}' is sliced into {len(ids)} orders ({', '.join(ids)}): "
                    "a condition names one of them",
                )
            elif oid not in b.orders:
                b.add(where, f"unknown order '{oid}' (orders: {', '.join(b.orders)})")
        b.trigger_rules(raw, path)
        if group := b.group(raw):
            name, oid, _ = group
            ids = b.groups[oid]
            b.add(
                f"{path}.{name}.order",
                f"'{oid}' is sliced into {len(ids)} orders ({', '.join(ids)}): "
                "a trigger acts on one of them",
            )
            continue
        action = b.action({k: v for k, v in raw.items() if k != "place"}, path)
        if "place" in raw:
            action = Place(spec=b.orders[raw["place"]["id"]])
            if raw.get("repeat"):
                # Each crossing would place the same plan order again and only the newest
                # would be managed: the others would rest at the broker unwatched.
                b.add(
                    f"{path}.repeat",
                    f"a trigger that places '{raw['place']['id']}' fires once: a plan order "
                    "is placed once (use one trigger per order to place)",
                )
        between = None
        if "between" in raw:
            a, z = (parse_time(t).clock for t in raw["between"])
            assert a is not None and z is not None
            between = (a, z)
            if z <= a:
                b.add(
                    f"{path}.between", f"between ends at {raw['between'][1]}, not after it starts"
                )
        if action is not None and not isinstance(action, Ladder):
            triggers.append(
                TriggerSpec(
                    id=tid,
                    when=_condition(raw["when"]),
                    action=action,
                    between=between,
                    repeat=raw.get("repeat", False),
                    path=path,
                )
            )
    oco = b.oco_groups(data.get("oco", []))
    policy = _policy(data.get("policy", {}))
    if policy.late_window is not None and policy.late_window <= policy.misfire_grace:
        raw_policy = data["policy"]
        b.add(
            "$.policy.on_late.place",
            f"the window {raw_policy['on_late']['place']} is not longer than misfire_grace "
            f"{raw_policy.get('misfire_grace', '30s')}: no late job would ever be sent",
        )
    day = None
    if "date" in data:
        try:
            day = dt.date.fromisoformat(data["date"])
        except ValueError:
            b.add("$.date", f"{data['date']!r} is not a date")
        else:
            if msg := not_trading_day(day):
                b.add("$.date", msg)
    plan = Plan(
        file=loaded.file,
        name=data["name"],
        description=data.get("description", ""),
        date=day,
        exchange=b.exchange,
        orders=b.orders,
        steps=tuple(steps),
        triggers=tuple(triggers),
        policy=policy,
        source=loaded,
        notify=_notify(data.get("notify")),
        rates={k: float(v) for k, v in data["rates"].items()} if data.get("rates") else None,
        oco=oco,
    )
    return plan, b.problems


def load_plan(
    path: str | Path,
    params: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    *,
    defer_unknown_kinds: bool = False,
) -> Plan:
    """Load, schema-check and build a plan file with its parameter values (`--set`);
    raises PlanError with every problem found so far (`compile.compile_plan` adds those
    that need the day). `kinds` (code -> kind, from the broker) applies to orders that
    declare no `instrument`; `defer_unknown_kinds` skips the grid check of codes whose
    kind neither the plan nor the built-in table gives, for a run that asks the broker
    and loads the plan again with its answer."""
    from planrunner.plan import schema
    from planrunner.plan.params import apply

    loaded = load_file(path)
    problems = list(loaded.problems)
    if not problems:
        loaded, values, problems = apply(loaded, params)
        problems = problems or schema.check(loaded)
    if not problems:
        plan, problems = build(loaded, kinds, defer=defer_unknown_kinds)
        if not problems:
            return dataclasses.replace(plan, params=values)
    raise PlanError(problems)
