"""What the executor reads and checks before it sends: the pre-send checklists.

Before a modify or cancel: the order is still open with something left (ka10075; fills
from ka10076 when they matter), the new price is on the tick grid and inside the day's
limits (ka10001, read once per symbol and run), the session takes the order type at the
instant of sending, and the order's value stays under `policy.max_order_value`. Newly
seen fills are journaled (the position is updated after it). Before a place: the
identical orders already at the broker (`twins`, journaled with the intent, never
claimed by a reconcile).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from planrunner.clock import SEOUL, Clock
from planrunner.engine.events import FILL, Emit, Event
from planrunner.engine.journal import Journal, Record
from planrunner.engine.outcome import Kind, SkipCode
from planrunner.engine.prices import PriceLog
from planrunner.engine.reconcile import identical
from planrunner.engine.standing import StandingTwins
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.exceptions import KiwoomError
from planrunner.kiwoom.types import Fill, OpenOrder, Quote, ord_key, same_ord_no
from planrunner.krx import days, instruments, ticks
from planrunner.model import PRICED_TYPES, CompiledPlan, OrderSpec, WireRequest


class Skip(Exception):
    """The action is not sent, for a reason the user is told (`skipped (filled)`); its
    code says whether that is routine or needs attention (outcome.SkipCode)."""

    def __init__(self, code: SkipCode, text: str):
        super().__init__(text)
        self.code = code


class Refused(Exception):
    """A check refused the action and the plan's intent is not carried out: the step
    ends `failed (...)`, needs attention and the run exits 2 (a `market` whose order
    would be refused is never started by its cancel)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatus:
    ord_no: str | None
    is_open: bool
    remaining: int
    filled: int  # over the whole lineage
    price: int | None
    row_filled: int = 0  # filled on the newest number itself
    doubt: str = ""  # the broker's lists and the journal's quantities disagree: why
    fill_value: int = 0  # sum of filled quantity × the broker's fill price, over the lineage
    # Per number of the lineage: (number without padding, filled on it, the broker's time
    # on its row: ka10076 `ord_tm` / ka10075 `tm`, HHmmss, the time of the order).
    numbers: tuple[tuple[str, int, str], ...] = ()


class Doubt(Exception):
    """The broker's lists and the run's arithmetic disagree about an order: nothing is
    sent for it, and the run reports it under "needs attention" (never "not open")."""


# Order types whose unfilled rest the broker cancels itself.
BROKER_CANCELS_REST = frozenset(
    {
        "limit_ioc",
        "limit_fok",
        "market_ioc",
        "market_fok",
        "best_ioc",
        "best_fok",
        "mid_ioc",
        "mid_fok",
    }
)
# Order types that fill on arrival or never: a number of these types filled at the time
# the broker gives its order (its row's time), whenever the run reads it.
FILLS_ON_ARRIVAL = BROKER_CANCELS_REST | {"market"}
# How far the broker's clock may stand from ours when its time of a fill is checked
# against our own reads (a whole-second HHmmss on a clock we do not keep).
FILL_CLOCK_SKEW = dt.timedelta(seconds=2)
_LEG_START = ("place", "market", "replace")
R = TypeVar("R", OpenOrder, Fill)


def lineage_rows(rows: Iterable[R], numbers: set[str]) -> list[R]:
    """The rows of a lineage: its numbers, and numbers that acted on them (repeatedly:
    a child of a child), compared without zero padding. Adds what it finds to `numbers`."""
    pending = list(rows)
    found: list[R] = []
    grew = True
    while grew and pending:
        grew = False
        rest: list[R] = []
        for r in pending:
            key, parent = ord_key(r.ord_no), ord_key(r.orig_ord_no)
            if key in numbers or (parent and parent in numbers):
                found.append(r)
                numbers.add(key)
                grew = True
            else:
                rest.append(r)
        pending = rest
    return found


def _numbers(filled: dict[str, int], times: dict[str, str]) -> tuple[tuple[str, int, str], ...]:
    return tuple((k, q, times.get(k, "")) for k, q in sorted(filled.items()))


def broker_clock_time(near: dt.datetime, text: str) -> dt.datetime | None:
    """The broker's `HHmmss` (or `HH:MM:SS`, Korea time) on the day of `near` (the plan's
    clock); None when it is not a time."""
    digits = text.strip().replace(":", "")
    if len(digits) != 6 or not digits.isdigit():
        return None
    try:
        t = dt.time(int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        return None
    return dt.datetime.combine(near.astimezone(SEOUL).date(), t, SEOUL)


@dataclass(frozen=True, slots=True)
class IncrementPrice:
    """The price of what a read found newly filled, from the broker's cumulative figures.

    Kiwoom's lists (ka10075, ka10076) give each order number its filled quantity and its
    average fill price, not each fill's: the new fills' value is what the numbers' value
    grew by (filled x average now, less filled x average before), over their quantity.
    `average`: more than one share, so possibly several fills at several prices;
    `approximate`: a number that had filled before grew (its average, rounded to the won
    by the broker, is subtracted), or the quotient is not a whole won."""

    value: int | float
    average: bool
    approximate: bool

    @property
    def text(self) -> str:
        shown = f"{self.value:,.0f}" if isinstance(self.value, float) else f"{self.value:,}"
        return ("avg " if self.average else "") + ("~" if self.approximate else "") + shown


def increment_price(
    st: OrderStatus, qty: int, value: int, numbers_before: dict[str, int]
) -> IncrementPrice | None:
    """The price of `qty` newly filled worth `value` (None: the broker gave no price)."""
    if qty <= 0 or value <= 0 or not st.fill_value:
        return None
    grown_on_filled = any(
        q > numbers_before.get(k, 0) and numbers_before.get(k, 0) > 0 for k, q, _t in st.numbers
    )
    # Fills noted without their numbers (the feed's): which number grew is unknown.
    grown_on_filled |= st.filled - qty > sum(numbers_before.values())
    whole = value % qty == 0
    price: int | float = value // qty if whole else round(value / qty, 2)
    return IncrementPrice(value=price, average=qty > 1, approximate=grown_on_filled or not whole)


def when_filled_text(timing: Record, seen: dt.datetime) -> str:
    """` at 12:07:03 (seen 15:15:00)`: when a fill happened, as the run knows it."""
    now = seen.astimezone(SEOUL)
    if timing.get("time") == "broker":
        at = dt.datetime.fromisoformat(timing["filled_at"]).astimezone(SEOUL)
        late = (now - at).total_seconds() >= 1
        return f" at {at:%H:%M:%S}" + (f" (seen {now:%H:%M:%S})" if late else "")
    after = timing.get("after")
    if not after:
        return f" (seen at {now:%H:%M:%S}; the broker does not say when it filled)"
    since = dt.datetime.fromisoformat(after).astimezone(SEOUL)
    if (now - since).total_seconds() < 1:
        return f" at {now:%H:%M:%S}"  # seen within the second it can have filled in
    return f", some time between {since:%H:%M:%S} and {now:%H:%M:%S} (when it was seen)"


def _latest_leg(records: list[Record], order: str) -> tuple[int, set[str], int, bool] | None:
    """(ordered, its numbers, cancelled, cancelled all) of the order's latest placed leg
    from the journal's acks; None when the journal cannot tell (adopted, reconciled)."""
    leg: tuple[int, set[str], int, bool] | None = None
    for rec in records:
        if rec.get("order") != order:
            continue
        if rec.get("type") == "adopt":
            leg = None
            continue
        if rec.get("type") != "ack":
            continue
        kind = rec.get("kind")
        number = ord_key(rec.get("ord_no"))
        if kind in _LEG_START:
            qty = rec.get("qty")
            if not isinstance(qty, int) or rec.get("reconciled"):
                leg = None
                continue
            leg = (qty, {number}, 0, False)
        elif leg is not None:
            ordered, nums, cancelled, everything = leg
            if number:
                nums.add(number)
            if kind == "cancel":
                asked = rec.get("asked")
                if not rec.get("partial") or asked == 0:
                    everything = True
                else:
                    took = asked if isinstance(asked, int) and asked else rec.get("qty")
                    if not isinstance(took, int) or rec.get("reconciled"):
                        return None
                    cancelled += took
            leg = (ordered, nums, cancelled, everything)
    return leg


class BrokerChecks:
    """Broker-state reads and pre-send checks, mixed into the Executor."""

    plan: CompiledPlan
    client: KiwoomClient
    journal: Journal
    clock: Clock
    emit: Emit
    enforce_session: bool
    orders: dict[str, OrderSpec]
    targets: dict[str, int]
    _locks_guard: threading.Lock
    _filled: dict[str, int]
    _filled_value: dict[str, int]  # order -> the value filled when `_filled` was noted
    _number_filled: dict[str, dict[str, int]]  # order -> number -> filled, as last noted
    _looked: dict[str, dt.datetime]  # order -> the start of its last read of the fills
    _pushed: dict[str, dict[str, tuple[int, int]]]  # order -> ord_no -> (qty, value) pushed
    _fill_events: set[tuple[str, int, int, int]]  # (ord_no, left open, qty, price) counted
    _early: dict[str, list[Any]]
    _day_limits: dict[str, tuple[int, int]]
    _not_before: dict[str, dt.datetime]
    warn: Callable[[str], None]
    prices: PriceLog
    standing: StandingTwins | None  # a place's twins while the feed is up (None: read)

    def quote(self, symbol: str, *, source: str = "check") -> Quote:
        """The broker's quote (ka10001); its price is offered to the journal's price log."""
        q = self.client.quote(symbol)
        self.prices.observe(symbol, q.price, source=source)
        return q

    def status(
        self, order: str, *, fills: bool = True, opens: list[OpenOrder] | None = None
    ) -> OrderStatus:
        """The order as the broker sees it now. `fills=False` skips the ka10076 read while
        the order is open (its `filled` is then that of the open number only); `opens`:
        the open-order list just read (any symbols), instead of reading it again.

        The broker's rows are the order's when their number or their `orig_ord_no` is in
        its lineage (numbers compared without their zero padding): a broker may list a
        partial cancel's rest under the cancel's number, or name the lineage's root as
        `orig_ord_no`. When the fills were read, the quantities are checked too: what
        was ordered = filled + cancelled + open; a mismatch sets `doubt`."""
        spec = self.orders[order]
        looked = self.clock.now()  # fills the lists do not show yet happen after this
        lineage = self.journal.state.lineage.get(order, [])
        newest = self.journal.state.newest(order)
        numbers = {ord_key(link.ord_no) for link in lineage if link.ord_no}
        journaled = set(numbers)
        if opens is None:
            opens = self.client.open_orders(symbol=spec.symbol)
        opens = lineage_rows(opens, numbers)
        open_rows = [o for o in opens if o.open_qty > 0]
        row = next((o for o in open_rows if same_ord_no(o.ord_no, newest)), None)
        if row is None and open_rows:
            row = max(open_rows, key=lambda o: int(ord_key(o.ord_no) or 0))
        per_number: dict[str, int] = {}
        per_price: dict[str, int] = {}
        per_time: dict[str, str] = {}
        read_fills = fills or row is None
        if read_fills:
            fill_rows = lineage_rows(self.client.fills(symbol=spec.symbol), numbers)
            for f in fill_rows:
                key = ord_key(f.ord_no)
                if f.filled_qty >= per_number.get(key, 0):
                    per_number[key] = f.filled_qty
                    per_price[key] = f.fill_price
                    per_time[key] = f.time
        if row is not None:
            key = ord_key(row.ord_no)
            listed = dict(per_number)
            if row.filled_qty >= per_number.get(key, 0):
                per_number[key] = row.filled_qty
                per_price[key] = row.fill_price or per_price.get(key, 0)
                per_time[key] = row.time or per_time.get(key, "")
            st = OrderStatus(
                ord_no=row.ord_no,
                is_open=True,
                remaining=row.open_qty,
                filled=sum(per_number.values()),
                price=row.price or None,
                row_filled=row.filled_qty,
                fill_value=sum(q * per_price.get(n, 0) for n, q in per_number.items()),
                numbers=_numbers(per_number, per_time),
            )
            # One read: the open row's own fills as the open list told them.
            listed[key] = row.filled_qty
        else:
            listed = per_number
            st = OrderStatus(
                ord_no=newest,
                is_open=False,
                remaining=0,
                filled=sum(per_number.values()),
                price=None,
                fill_value=sum(q * per_price.get(n, 0) for n, q in per_number.items()),
                numbers=_numbers(per_number, per_time),
            )
        if read_fills:
            doubt = self._arithmetic(order, spec, numbers - journaled, listed, open_rows)
            if doubt:
                st = replace(st, doubt=doubt)
            self._note_fills(order, st, looked)
        return st

    def _arithmetic(
        self,
        order: str,
        spec: OrderSpec,
        discovered: set[str],
        filled: dict[str, int],
        open_rows: list[OpenOrder],
    ) -> str:
        """Why the broker's lists and the journal's quantities disagree ("" if they fit):
        the latest order of the lineage (a place, market or replace) had `ordered`; the
        journal's cancels took some; so filled + open must come to the rest."""
        if len(open_rows) > 1:
            listed = ", ".join(o.ord_no for o in open_rows)
            return f"the broker lists {len(open_rows)} open numbers for it ({listed})"
        if any(rec.get("order") == order for _job, _req, rec in self.journal.state.in_doubt()):
            return ""  # a request's outcome is unknown: reconcile settles it first
        leg = _latest_leg(self.journal.state.records, order)
        if leg is None:
            return ""
        ordered, leg_numbers, cancelled, all_cancelled = leg
        leg_numbers |= discovered  # numbers the journal never saw: children of this leg
        got = sum(q for k, q in filled.items() if k in leg_numbers)
        open_qty = sum(o.open_qty for o in open_rows)
        expected = 0 if all_cancelled else ordered - got - cancelled
        if open_qty == expected or (all_cancelled and open_qty == 0):
            return ""
        if open_qty < expected and spec.order_type in BROKER_CANCELS_REST:
            return ""  # IOC / FOK: the broker cancels what did not fill on arrival
        return (
            f"{ordered} ordered, {got} filled, {cancelled} cancelled by this run, so "
            f"{max(expected, 0)} should be open, but the broker lists {open_qty} open"
        )

    def _note_fills(self, order: str, st: OrderStatus, looked: dt.datetime) -> None:
        """Record each newly seen fill in the journal (the position follows its fills),
        with when it filled as far as the broker's lists tell (`_fill_time`)."""
        with self._locks_guard:
            before = self._filled.get(order, 0)
            prev_look = self._looked.get(order)
            self._looked[order] = max(looked, prev_look) if prev_look else looked
            if st.filled <= before:
                return
            self._filled[order] = st.filled
            value_before = self._filled_value.get(order, 0)
            self._filled_value[order] = st.fill_value
            numbers_before = self._number_filled.get(order, {})
            self._number_filled[order] = {k: q for k, q, _t in st.numbers}
        seen = self.clock.now()
        timing = self._fill_time(order, st, numbers_before, prev_look, seen)
        self.journal.append(
            {
                "type": "fill",
                "order": order,
                "ord_no": st.ord_no,
                "filled": st.filled,
                "remaining": st.remaining,
                # For the day's report: when it was seen (plan's clock) and the value
                # filled over the lineage (filled × the broker's fill price; 0 if unsaid).
                "at": seen.isoformat(timespec="milliseconds"),
                "value": st.fill_value,
                "numbers": {k: q for k, q, _t in st.numbers},
                **timing,
            }
        )
        target = self.targets.get(order)
        of = f"/{target}" if target else ""
        # The figures ride along for machines (JSON lines, notifications).
        figures: dict[str, Any] = {
            "qty": st.filled - before,
            "filled": st.filled,
            "remaining": st.remaining,
            "value": st.fill_value,
            "seen": seen.isoformat(timespec="seconds"),
            **timing,
        }
        qty = st.filled - before
        price = increment_price(st, qty, st.fill_value - value_before, numbers_before)
        text = f"filled {qty} more"
        if price is not None:
            text += f" at {price.text}"
            figures |= {"price": price.value, "price_avg": price.average}
            figures["price_exact"] = not price.approximate
        text += f" ({st.filled}{of} filled"
        if st.fill_value and st.filled:
            figures["avg_price"] = st.fill_value // st.filled
            if before:
                text += f", average {st.fill_value // st.filled:,}"
        text += ")" + when_filled_text(timing, seen)
        self.emit(self._event(FILL, text, None, order, figures))

    def _fill_time(
        self,
        order: str,
        st: OrderStatus,
        numbers_before: dict[str, int],
        prev_look: dt.datetime | None,
        seen: dt.datetime,
    ) -> Record:
        """When the fills a read found happened, as far as the broker tells.

        Kiwoom's lists give each number the time of its order (ka10076 `ord_tm`, ka10075
        `tm`), not of its fills. A number of a type that fills on arrival or never
        (market, IOC, FOK) filled at that time: `filled_at`, `time: broker`. Any other
        fill happened after its order's time and after the run's last read of the order
        that did not show it, and by the time it was seen: `time: seen` with that lower
        bound as `after` (the feed's order events tell the exact time: `note_pushed`)."""
        grown = [(k, t) for k, q, t in st.numbers if q > numbers_before.get(k, 0)]
        stamps = [broker_clock_time(seen, t) for _k, t in grown]
        known = [s for s in stamps if s is not None]
        kinds = self._number_types(order)
        on_arrival = all(kinds.get(k) in FILLS_ON_ARRIVAL for k, _t in grown)
        if grown and len(known) == len(grown) and on_arrival:
            at = min(max(known), seen)
            if prev_look is None or at >= prev_look - FILL_CLOCK_SKEW:
                return {"filled_at": at.isoformat(timespec="seconds"), "time": "broker"}
        bounds = [b for b in (prev_look, min(known) if known else None) if b is not None]
        out: Record = {"time": "seen"}
        if bounds:
            out["after"] = min(max(bounds), seen).isoformat(timespec="seconds")
        return out

    def _number_types(self, order: str) -> dict[str, str]:
        """Each journaled number of the order and the order type it was sent as ("" for
        an adopted order or a cancel: not known)."""
        spec = self.orders.get(order)
        out: dict[str, str] = {}
        for link in self.journal.state.lineage.get(order, []):
            if link.kind == "market":
                out[ord_key(link.ord_no)] = "market"
            elif link.kind in ("place", "modify", "replace") and spec is not None:
                out[ord_key(link.ord_no)] = spec.order_type
            else:
                out[ord_key(link.ord_no)] = ""
        return out

    def note_pushed(self, event: Any) -> None:
        """An order event (`00`) from the live feed. A fill on one of this plan's numbers
        is journaled and printed at once, with its quantity, price and the broker's time;
        events about other numbers are not this plan's and are ignored. Polling (the
        `status` reads) still notices fills while the feed is down: both paths count the
        lineage's fills in `_filled`, so a fill is reported once whichever saw it first."""
        if event.kind != "filled" or event.fill_qty <= 0:
            return
        # Numbers compared without their padding: the push may write a number otherwise
        # than the order's answer did ("0000024" and "24" are one number).
        key = ord_key(event.ord_no)
        order = self._order_of(key)
        if order is None:
            # The push can overtake the order's own answer: kept until its ack is
            # journaled (replay_early), and forgotten if no ack of this plan names it.
            with self._locks_guard:
                early = self._early.setdefault(key, [])
                if len(early) < 100:
                    early.append(event)
                if len(self._early) > 1000:
                    self._early.pop(next(iter(self._early)))
            if self._order_of(key) is not None:  # its ack landed meanwhile
                self.replay_early(key)
            return
        with self._locks_guard:
            # Each fill leaves its number less open than the one before (a cancel too): an
            # event naming the same number, open quantity, fill quantity and price is that
            # fill pushed again (a broker's resend), not another fill.
            fill_id = (key, event.open_qty, event.fill_qty, event.fill_price)
            if fill_id in self._fill_events:
                return
            self._fill_events.add(fill_id)
            per = self._pushed.setdefault(order, {})
            qty, value = per.get(key, (0, 0))
            per[key] = (qty + event.fill_qty, value + event.fill_qty * event.fill_price)
            total = sum(q for q, _ in per.values())
            total_value = sum(v for _, v in per.values())
            before = self._filled.get(order, 0)
            if total > before:
                self._filled[order] = total
                self._filled_value[order] = total_value
        if total <= before:
            last = self.journal.state.fills.get(order) or {}
            if total == before == last.get("filled") and last.get("time") == "seen":
                self._time_seen_fill(order, event, last)
            return
        new = total - before
        broker_time = event.time
        if len(broker_time) == 6 and broker_time.isdigit():
            broker_time = f"{broker_time[:2]}:{broker_time[2:4]}:{broker_time[4:]}"
        seen = self.clock.now()
        filled_at = broker_clock_time(seen, event.time)
        # The event's `908` is the fill's own time: exact, whenever it arrives.
        timing: Record = (
            {"filled_at": min(filled_at, seen).isoformat(timespec="seconds"), "time": "broker"}
            if filled_at is not None
            else {"time": "seen"}
        )
        self.journal.append(
            {
                "type": "fill",
                "order": order,
                "ord_no": event.ord_no,
                "filled": total,
                "remaining": event.open_qty,
                "at": seen.isoformat(timespec="milliseconds"),
                "value": total_value,
                "qty": new,
                "price": event.fill_price,
                "broker_time": broker_time,
                "source": "feed",
                **timing,
            }
        )
        target = self.targets.get(order)
        ordered = target or event.order_qty
        figures = {
            "qty": new,
            "price": event.fill_price,
            "filled": total,
            "ordered": ordered,
            "remaining": event.open_qty,
            "value": total_value,
            "avg_price": total_value // total,
            "broker_time": broker_time,
            "ord_no": event.ord_no,
            "seen": seen.isoformat(timespec="seconds"),
            **timing,
        }
        text = f"filled {new} at {event.fill_price:,} ({total}/{ordered} filled)"
        text += when_filled_text(timing, seen)
        self.emit(self._event(FILL, text, None, order, figures))

    def _time_seen_fill(self, order: str, event: Any, last: Record) -> None:
        """A read noted this fill before its pushed event came, without the broker's
        time: the event completes it. Journaled as a fill record of the same total (a
        report takes its time for the fill seen; older readers see nothing new)."""
        try:
            seen = dt.datetime.fromisoformat(str(last["at"]))
        except (KeyError, ValueError):
            return  # a record without a readable time: nothing to complete
        filled_at = broker_clock_time(seen, event.time)
        if filled_at is None or seen.tzinfo is None:
            return
        self.journal.append(
            {
                "type": "fill",
                "order": order,
                "ord_no": last.get("ord_no"),
                "filled": last["filled"],
                "remaining": last.get("remaining"),
                "at": last["at"],
                "value": last.get("value", 0),
                "numbers": last.get("numbers", {}),
                "filled_at": min(filled_at, seen).isoformat(timespec="seconds"),
                "time": "broker",
                "source": "feed",
                "timed": "the fill read at `at`: its last share filled at `filled_at`",
            }
        )

    def replay_early(self, ord_no: str) -> None:
        """Note the pushed fills that arrived before `ord_no` was journaled."""
        with self._locks_guard:
            early = self._early.pop(ord_key(ord_no), [])
        for event in early:
            self.note_pushed(event)

    def _order_of(self, ord_no: str) -> str | None:
        """The plan's order whose lineage holds this number (any padding), if any."""
        for order, links in self.journal.state.lineage.items():
            if any(same_ord_no(link.ord_no, ord_no) for link in links):
                return order
        return None

    def _open_status(self, order: str, *, fills: bool = True) -> OrderStatus:
        if not self.journal.state.lineage.get(order):
            raise Skip(SkipCode.NEVER_PLACED, "never placed")
        st = self.status(order, fills=fills)
        if st.doubt:
            raise Doubt(st.doubt)
        if not st.is_open:
            target = self.targets.get(order)
            if st.filled and (target is None or st.filled >= target):
                raise Skip(SkipCode.FILLED, "filled")
            if st.filled:
                raise Skip(SkipCode.NOT_OPEN, f"not open: {st.filled} filled, the rest cancelled")
            raise Skip(SkipCode.NOT_OPEN, "not open at the broker (cancelled)")
        return st

    def twins(
        self, spec: OrderSpec, request: WireRequest, *, fired: bool = False
    ) -> dict[str, Any]:
        """Evidence for a reconcile, read right before a place's POST: the numbers of the
        orders already at the broker with the request's very fields (`{"twins": [...]}`,
        journaled with the intent; reconcile.py never claims them). Open orders (ka10075),
        and today's fills (ka10076) for a type that fills on arrival, whose twin would no
        longer be open (`twins_read` says which were read). A read that fails costs the
        evidence, not the order: `{}`, and a reconcile then keeps a candidate stamped in
        the intent's own second in doubt (as it does one no longer open when only the
        open orders were read). For a place a trigger `fired`, while the live feed carries
        the account's order events, they come from its standing read instead, with no
        read on the reaction's path (standing.py; `twins_from` says which); a reconcile
        then cannot claim an order stamped in the intent's own second (a `00` push may be
        late). A scheduled place reads before it waits for its instant: nothing to gain."""
        fills = spec.order_type in FILLS_ON_ARRIVAL
        if fired and self.standing is not None:
            found = self.standing.evidence(fills, request)
            if found is not None:
                return found
        try:
            rows: list[OpenOrder | Fill] = list(self.client.open_orders(symbol=spec.symbol))
            if fills:
                rows += self.client.fills(symbol=spec.symbol)
        except KiwoomError:
            return {}
        same = {o.ord_no for o in rows if identical(o, request.api_id, request.body)}
        return {
            "twins": sorted(same),
            "twins_read": "open+fills" if fills else "open",
            "twins_from": "read",
        }

    def _check_session(self, order_type: str, exchange: str, job_id: str) -> None:
        """Whether the session takes this order type when the request will be sent."""
        now = max(self.clock.now(), self._not_before.get(job_id, self.clock.now()))
        if days.accepts(order_type, now, exchange):
            return
        windows = days.describe_windows(days.windows_for(order_type, now.date(), exchange))
        text = f"{order_type} orders are not accepted at {now:%H:%M:%S} (accepted: {windows})"
        if self.enforce_session:
            raise Skip(SkipCode.SESSION, text)
        self.warn(text)

    def _check_price(self, spec: OrderSpec, price: int) -> None:
        if not ticks.on_grid(price, instruments.order_kind(spec)):
            low, high = ticks.nearest_valid(price, instruments.order_kind(spec))
            raise Skip(
                SkipCode.PRICE, f"{price:,} is off the tick grid (nearest {low:,} / {high:,})"
            )
        lower, upper = self._limits(spec.symbol)
        if not lower <= price <= upper:
            raise Skip(SkipCode.PRICE, f"{price:,} is outside today's limits {lower:,}-{upper:,}")
        self._check_single_price_band(spec, price)

    def _check_single_price_band(self, spec: OrderSpec, price: int | None) -> None:
        """Type 62 trades within ±10% of the day's close (the quote's price after it)."""
        if spec.order_type == "after_hours_single" and price is not None:
            close = self.quote(spec.symbol).price
            low, high = ticks.band(close, ticks.SINGLE_PRICE_BAND, instruments.order_kind(spec))
            if not low <= price <= high:
                raise Skip(
                    SkipCode.PRICE,
                    f"{price:,} is outside the after-hours single-price band {low:,}-{high:,} "
                    f"(±{ticks.SINGLE_PRICE_BAND}% of the close {close:,})",
                )

    def _limits(self, symbol: str) -> tuple[int, int]:
        """Today's lower/upper price limits: fixed for the day, so read once per run."""
        known = self._day_limits.get(symbol)
        if known is None:
            q = self.quote(symbol)
            known = self._day_limits[symbol] = (q.lower_limit, q.upper_limit)
        return known

    def _check_value(self, spec: OrderSpec, qty: int, price: int | None) -> None:
        cap = self.plan.policy.max_order_value
        if cap is None:
            return
        if price is None or spec.order_type not in PRICED_TYPES:
            q = self.quote(spec.symbol)
            price = q.upper_limit if spec.side == "buy" else q.price
        if qty * price > cap:
            raise Skip(
                SkipCode.VALUE, f"order value {qty * price:,} KRW exceeds max_order_value {cap:,}"
            )

    def _event(
        self,
        kind: str,
        message: str,
        job: str | None,
        order: str | None,
        data: dict[str, Any] | None = None,
        outcome: Kind | None = None,
    ) -> Event:
        return Event(
            kind=kind,
            at=self.clock.now(),
            message=message,
            job=job,
            order=order,
            data=dict(data or {}),
            outcome=outcome,
        )
