"""What the executor reads and checks before it sends: the pre-send checklists.

Before a modify or cancel: the order is still open with something left (ka10075; fills
from ka10076 when they matter), the new price is on the tick grid and inside the day's
limits (ka10001, read once per symbol and run), the session takes the order type at the
instant of sending, and the order's value stays under `policy.max_order_value`. Newly
seen fills are journaled (the position is updated after it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planrunner.clock import Clock
from planrunner.engine.events import FILL, Emit, Event
from planrunner.engine.journal import Journal
from planrunner.kiwoom.client import KiwoomClient
from planrunner.krx import days, instruments, ticks
from planrunner.model import PRICED_TYPES, CompiledPlan, OrderSpec


class Skip(Exception):
    """The action is not sent, for a reason the user is told (`skipped (filled)`)."""


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
    _day_limits: dict[str, tuple[int, int]]
    _not_before: dict[str, dt.datetime]
    warn: Callable[[str], None]

    def status(self, order: str, *, fills: bool = True) -> OrderStatus:
        """The order as the broker sees it now. `fills=False` skips the ka10076 read while
        the order is open (its `filled` is then that of the newest number only)."""
        spec = self.orders[order]
        lineage = self.journal.state.lineage.get(order, [])
        newest = self.journal.state.newest(order)
        numbers = {link.ord_no for link in lineage}
        row = None
        if newest is not None:
            for o in self.client.open_orders(symbol=spec.symbol):
                if o.ord_no == newest:
                    row = o
                    break
        per_number: dict[str, int] = {}
        if fills or row is None:
            for f in self.client.fills(symbol=spec.symbol):
                if f.ord_no in numbers:
                    per_number[f.ord_no] = max(per_number.get(f.ord_no, 0), f.filled_qty)
        if row is not None:
            per_number[row.ord_no] = max(per_number.get(row.ord_no, 0), row.filled_qty)
            st = OrderStatus(
                ord_no=newest,
                is_open=row.open_qty > 0,
                remaining=row.open_qty,
                filled=sum(per_number.values()),
                price=row.price or None,
                row_filled=row.filled_qty,
            )
        else:
            st = OrderStatus(
                ord_no=newest,
                is_open=False,
                remaining=0,
                filled=sum(per_number.values()),
                price=None,
            )
        if fills or row is None:
            self._note_fills(order, st)
        return st

    def _note_fills(self, order: str, st: OrderStatus) -> None:
        """Record each newly seen fill in the journal (the position follows its fills)."""
        with self._locks_guard:
            before = self._filled.get(order, 0)
            if st.filled <= before:
                return
            self._filled[order] = st.filled
        self.journal.append(
            {
                "type": "fill",
                "order": order,
                "ord_no": st.ord_no,
                "filled": st.filled,
                "remaining": st.remaining,
            }
        )
        target = self.targets.get(order)
        of = f"/{target}" if target else ""
        self.emit(
            self._event(FILL, f"filled {st.filled - before} more ({st.filled}{of})", None, order)
        )

    def _open_status(self, order: str, *, fills: bool = True) -> OrderStatus:
        if not self.journal.state.lineage.get(order):
            raise Skip("never placed")
        st = self.status(order, fills=fills)
        if not st.is_open:
            target = self.targets.get(order)
            if st.filled and (target is None or st.filled >= target):
                raise Skip("filled")
            if st.filled:
                raise Skip(f"not open: {st.filled} filled, the rest cancelled")
            raise Skip("not open at the broker (cancelled)")
        return st

    def _check_session(self, order_type: str, exchange: str, job_id: str) -> None:
        """Whether the session takes this order type when the request will be sent."""
        now = max(self.clock.now(), self._not_before.get(job_id, self.clock.now()))
        if days.accepts(order_type, now, exchange):
            return
        windows = days.describe_windows(days.windows_for(order_type, now.date(), exchange))
        text = f"{order_type} orders are not accepted at {now:%H:%M:%S} (accepted: {windows})"
        if self.enforce_session:
            raise Skip(text)
        self.warn(text)

    def _check_price(self, spec: OrderSpec, price: int) -> None:
        if not ticks.on_grid(price, instruments.order_kind(spec)):
            low, high = ticks.nearest_valid(price, instruments.order_kind(spec))
            raise Skip(f"{price:,} is off the tick grid (nearest {low:,} / {high:,})")
        lower, upper = self._limits(spec.symbol)
        if not lower <= price <= upper:
            raise Skip(f"{price:,} is outside today's limits {lower:,}-{upper:,}")
        self._check_single_price_band(spec, price)

    def _check_single_price_band(self, spec: OrderSpec, price: int | None) -> None:
        """Type 62 trades within ±10% of the day's close (the quote's price after it)."""
        if spec.order_type == "after_hours_single" and price is not None:
            close = self.client.quote(spec.symbol).price
            low, high = ticks.band(close, ticks.SINGLE_PRICE_BAND, instruments.order_kind(spec))
            if not low <= price <= high:
                raise Skip(
                    f"{price:,} is outside the after-hours single-price band {low:,}-{high:,} "
                    f"(±{ticks.SINGLE_PRICE_BAND}% of the close {close:,})"
                )

    def _limits(self, symbol: str) -> tuple[int, int]:
        """Today's lower/upper price limits: fixed for the day, so read once per run."""
        known = self._day_limits.get(symbol)
        if known is None:
            q = self.client.quote(symbol)
            known = self._day_limits[symbol] = (q.lower_limit, q.upper_limit)
        return known

    def _check_value(self, spec: OrderSpec, qty: int, price: int | None) -> None:
        cap = self.plan.policy.max_order_value
        if cap is None:
            return
        if price is None or spec.order_type not in PRICED_TYPES:
            q = self.client.quote(spec.symbol)
            price = q.upper_limit if spec.side == "buy" else q.price
        if qty * price > cap:
            raise Skip(f"order value {qty * price:,} KRW exceeds max_order_value {cap:,}")

    def _event(
        self,
        kind: str,
        message: str,
        job: str | None,
        order: str | None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        return Event(
            kind=kind,
            at=self.clock.now(),
            message=message,
            job=job,
            order=order,
            data=dict(data or {}),
        )
