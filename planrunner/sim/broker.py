"""The in-memory exchange: accepts, modifies and cancels orders and fills them against
the market's price events. Broker vocabulary stays here and in the HTTP surface.

Fill rules (docs/simulator.md): a buy fills when the price is at or below its limit, a
sell at or above; market-like types (no limit price) fill completely on arrival at the
current price. A scenario's `max_qty` caps each priced order's fill per price event.
A resting order fills at its own limit; one marketable on arrival at the current price.
IOC keeps what filled on arrival and cancels the rest; FOK fills all on arrival or nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from planrunner.krx import days
from planrunner.krx.ticks import SINGLE_PRICE_BAND, band, on_grid
from planrunner.sim import protocol
from planrunner.sim.behaviour import Behaviour, canonical
from planrunner.sim.market import Market
from planrunner.sim.orders import Fill, Kind, Order, Side
from planrunner.sim.protocol import SimError, rejected
from planrunner.sim.push import EventKind, Hub, order_values, rejected_values


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOrder:
    symbol: str
    side: Side
    trde_tp: str
    exchange: str
    qty: int
    price: int | None  # None for market-like types
    stop_price: int | None = None

    @property
    def order_type(self) -> str:
        return protocol.TRDE_TP[self.trde_tp][0]


class Broker:
    def __init__(
        self,
        market: Market,
        *,
        first_ord_no: int = 1,
        enforce_session: bool = True,
        behaviour: Behaviour | None = None,
    ):
        self.market = market
        self.behaviour = behaviour or Behaviour()
        self.enforce_session = enforce_session
        self.orders: dict[str, Order] = {}
        self._open: dict[str, list[Order]] = {}
        self._next = first_ord_no
        self._windows: dict[tuple[str, str, dt.date], tuple[days.Window, ...]] = {}
        self.hub: Hub | None = None  # the WebSocket's pushes (0B prices, 00 order events)

    # ---- time -------------------------------------------------------------------------

    def advance(self, now: dt.datetime) -> None:
        for symbol, price, at in self.market.advance(now):
            self._price_event(symbol, price, at)

    def set_price(self, symbol: str, price: int, now: dt.datetime) -> int:
        """Move a symbol's price now (clamped to its daily limits) and fill what crosses."""
        self.advance(now)
        actual = self.market.set_price(symbol, price)
        self._price_event(symbol, actual, now)
        return actual

    def _price_event(self, symbol: str, price: int, now: dt.datetime) -> None:
        if self.hub is not None:
            s = self.market.symbol(symbol)
            self.hub.price(symbol, price, s.base, s.kind, now)
        book = self._open.get(symbol)
        if book:
            for order in book:
                self._match(order, price, now, arriving=False)
            self._open[symbol] = [o for o in book if o.remaining > 0]

    # ---- requests ---------------------------------------------------------------------

    def place(self, new: NewOrder, now: dt.datetime) -> Order:
        try:
            return self._place(new, now)
        except SimError as e:
            word = "+매수" if new.side == "buy" else "-매도"
            self._rejected(new.symbol, new.side, new.qty, new.price, None, word, e, now)
            raise

    def _place(self, new: NewOrder, now: dt.datetime) -> Order:
        self._check_session(new.order_type, new.exchange, now)
        if new.price is not None:
            self._check_price(new.symbol, new.price, new.order_type)
        if new.stop_price is not None:
            self._check_price(new.symbol, new.stop_price)
        ord_no = self._number()
        order = Order(
            ord_no=ord_no,
            kind="order",
            symbol=new.symbol,
            side=new.side,
            order_type=new.order_type,
            trde_tp=new.trde_tp,
            exchange=new.exchange,
            qty=new.qty,
            price=new.price,
            stop_price=new.stop_price,
            orig_ord_no=None,
            base_ord_no=ord_no,
            placed_at=now,
            triggered=new.order_type != "stop_limit",
        )
        return self._enter(order, now)

    def modify(
        self,
        orig_ord_no: str,
        symbol: str,
        qty: int,
        price: int | None,
        stop_price: int | None,
        now: dt.datetime,
    ) -> Order:
        """Move `qty` (0: all remaining) of an order to a new number at a new price."""
        try:
            return self._modify(orig_ord_no, symbol, qty, price, stop_price, now)
        except SimError as e:
            self._refused(orig_ord_no, symbol, qty, price, "정정", e, now)
            raise

    def _modify(
        self,
        orig_ord_no: str,
        symbol: str,
        qty: int,
        price: int | None,
        stop_price: int | None,
        now: dt.datetime,
    ) -> Order:
        target = self._target(orig_ord_no, symbol)
        q = self._qty(target, qty)
        self._check_session(target.order_type, target.exchange, now)
        if target.price is None:
            price = None  # market-like orders keep trading at the market
        elif price is not None:
            self._check_price(symbol, price, target.order_type)
        if stop_price is not None:
            self._check_price(symbol, stop_price)
        target.moved += q
        target.settle("modified")
        order = self._child(
            target,
            "modify",
            q,
            now,
            price=price if price is not None else target.price,
            stop_price=stop_price if stop_price is not None else target.stop_price,
        )
        order.triggered = target.triggered
        return self._enter(order, now)

    def cancel(self, orig_ord_no: str, symbol: str, qty: int, now: dt.datetime) -> Order:
        """Cancel `qty` (0: all remaining); the rest stays open under the original number
        (behaviour remainder=original) or moves to the cancel's own number (=cancel).
        The returned record's `acted` is the quantity cancelled."""
        try:
            return self._cancel(orig_ord_no, symbol, qty, now)
        except SimError as e:
            self._refused(orig_ord_no, symbol, qty, None, "취소", e, now)
            raise

    def _cancel(self, orig_ord_no: str, symbol: str, qty: int, now: dt.datetime) -> Order:
        target = self._target(orig_ord_no, symbol)
        q = self._qty(target, qty)
        self._check_session(target.order_type, target.exchange, now)
        target.cancelled += q
        rest = target.remaining
        if rest and self.behaviour.remainder == "cancel":
            target.moved += rest
            target.settle("cancelled")
            holder = self._child(
                target, "cancel", rest, now, price=target.price, stop_price=target.stop_price
            )
            holder.holds = True
            holder.acted = q
            holder.triggered = target.triggered
            self.orders[holder.ord_no] = holder
            self._open.setdefault(holder.symbol, []).append(holder)
            self._emit(holder, "accepted", now)
            self._emit(holder, "cancelled", now)
            return holder
        target.settle("cancelled")
        record = self._child(
            target, "cancel", q, now, price=target.price, stop_price=target.stop_price
        )
        record.state = "confirmed"
        record.acted = q
        self.orders[record.ord_no] = record
        self._emit(record, "accepted", now)
        self._emit(record, "cancelled", now)
        return record

    def _child(
        self,
        target: Order,
        kind: Kind,
        qty: int,
        now: dt.datetime,
        *,
        price: int | None,
        stop_price: int | None,
    ) -> Order:
        """A new number acting on `target`: same stock, side, type and lineage."""
        return Order(
            ord_no=self._number(),
            kind=kind,
            symbol=target.symbol,
            side=target.side,
            order_type=target.order_type,
            trde_tp=target.trde_tp,
            exchange=target.exchange,
            qty=qty,
            price=price,
            stop_price=stop_price,
            orig_ord_no=target.ord_no,
            base_ord_no=target.base_ord_no,
            placed_at=now,
        )

    # ---- reads ------------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.remaining > 0]

    def filled_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.filled > 0]

    @property
    def next_ord_no(self) -> int:
        return self._next

    @next_ord_no.setter
    def next_ord_no(self, n: int) -> None:
        """Jump the counter forward (to recreate an adopted order under its number)."""
        if n < self._next:
            raise ValueError(f"order number {n:07d} is already used")
        self._next = n

    # ---- internals --------------------------------------------------------------------

    def _number(self) -> str:
        n = self._next
        self._next += 1
        return f"{n:07d}"

    def _emit(self, order: Order, kind: EventKind, now: dt.datetime, **extra: int | bool) -> None:
        if self.hub is not None and self.hub.active:
            values = order_values(order, kind, now, **extra)  # type: ignore[arg-type]
            # The numbers as this broker writes them (behaviour padding), as in its lists.
            number = self.behaviour.number
            values["9203"] = number(values["9203"])
            if order.orig_ord_no:
                values["904"] = number(values["904"])
            self.hub.order(values)

    def _refused(
        self,
        orig_ord_no: str,
        symbol: str,
        qty: int,
        price: int | None,
        what: str,
        e: SimError,
        now: dt.datetime,
    ) -> None:
        target = self.orders.get(canonical(orig_ord_no))
        side = target.side if target is not None else "buy"
        word = ("+매수" if side == "buy" else "-매도") + what
        self._rejected(symbol, side, qty, price, orig_ord_no, word, e, now)

    def _rejected(
        self,
        symbol: str,
        side: str,
        qty: int,
        price: int | None,
        orig_ord_no: str | None,
        word: str,
        e: SimError,
        now: dt.datetime,
    ) -> None:
        if self.hub is None or not self.hub.active:
            return
        values = rejected_values(
            symbol=symbol,
            side=side,
            qty=qty,
            price=price,
            orig_ord_no=orig_ord_no,
            word=word,
            reason=e.return_msg,
            at=now,
        )
        self.hub.order(values)

    def _enter(self, order: Order, now: dt.datetime) -> Order:
        self.orders[order.ord_no] = order
        self._emit(order, "accepted", now)
        if order.kind == "modify":
            self._emit(order, "modified", now)
        self._match(order, self.market.symbol(order.symbol).price, now, arriving=True)
        if order.remaining > 0:
            self._open.setdefault(order.symbol, []).append(order)
        return order

    def _target(self, ord_no: str, symbol: str) -> Order:
        target = self.orders.get(canonical(ord_no))
        if target is None or (target.kind == "cancel" and not target.holds):
            raise rejected(protocol.NO_SUCH_ORDER, f"원주문번호({ord_no})가 존재하지 않습니다")
        if target.symbol != symbol:
            raise rejected(protocol.SYMBOL_MISMATCH, f"원주문({ord_no})과 종목코드가 다릅니다")
        if target.remaining == 0:
            if target.state == "filled":
                raise rejected(protocol.ALREADY_FILLED, f"이미 체결된 주문입니다({ord_no})")
            if target.state == "modified":
                raise rejected(
                    protocol.ALREADY_MODIFIED,
                    f"이미 정정된 주문입니다({ord_no}): 최신 주문번호 사용",
                )
            raise rejected(protocol.ALREADY_CANCELLED, f"이미 취소된 주문입니다({ord_no})")
        return target

    @staticmethod
    def _qty(target: Order, qty: int) -> int:
        q = qty or target.remaining
        if q > target.remaining:
            raise rejected(
                protocol.QTY_EXCEEDS_REMAINING,
                f"정정/취소 가능수량({target.remaining})을 초과하였습니다",
            )
        return q

    def _check_session(self, order_type: str, exchange: str, now: dt.datetime) -> None:
        if not self.enforce_session:
            return
        # days.accepts, with the day's windows cached: it rebuilds the session per call.
        local = now.astimezone(days.SEOUL)
        key = (order_type, exchange, local.date())
        windows = self._windows.get(key)
        if windows is None:
            day = local.date()
            trading = days.is_trading_day(day)
            windows = days.windows_for(order_type, day, exchange) if trading else ()
            self._windows[key] = windows
        if not any(w.contains(local.time()) for w in windows):
            raise rejected(protocol.OUTSIDE_SESSION, "주문 가능 시간이 아닙니다")

    def _check_price(self, symbol: str, price: int, order_type: str = "") -> None:
        if not on_grid(price, self.market.symbol(symbol).kind):
            raise rejected(protocol.OFF_TICK, f"호가단위가 맞지 않는 주문가격입니다({price})")
        quote = self.market.quote(symbol)
        if not quote.lower <= price <= quote.upper:
            raise rejected(
                protocol.OUTSIDE_LIMITS,
                f"주문가격({price})이 상하한가({quote.lower}~{quote.upper})를 벗어났습니다",
            )
        if order_type == "after_hours_single":
            # 62 trades within ±10% of the day's close (here: the current price)
            low, high = band(quote.price, SINGLE_PRICE_BAND, self.market.symbol(symbol).kind)
            if not low <= price <= high:
                raise rejected(
                    protocol.OUTSIDE_LIMITS,
                    f"시간외단일가 주문가격({price})이 가격제한폭({low}~{high})을 벗어났습니다",
                )

    def _match(self, order: Order, price: int, now: dt.datetime, *, arriving: bool) -> None:
        if order.remaining == 0:
            return
        buy = order.side == "buy"
        if not order.triggered:
            assert order.stop_price is not None
            order.triggered = price >= order.stop_price if buy else price <= order.stop_price
            if not order.triggered:
                return
        limit = order.price
        marketable = limit is None or (price <= limit if buy else price >= limit)
        qty = order.remaining if marketable else 0
        cap = self.market.symbol(order.symbol).spec.max_fill
        if limit is not None and cap is not None:
            qty = min(qty, cap)
        if arriving and order.order_type in protocol.FOK and qty < order.remaining:
            qty = 0
        if qty:
            fill_price = price if arriving or limit is None else limit
            order.filled += qty
            order.fills.append(Fill(qty=qty, price=fill_price, at=now))
            order.settle("filled")
            self._emit(order, "filled", now, fill_qty=qty, fill_price=fill_price)
        if arriving and order.order_type in protocol.IOC | protocol.FOK and order.remaining:
            order.cancelled += order.remaining
            order.settle("cancelled")
            self._emit(order, "cancelled", now, by_broker=True)


__all__ = ["Broker", "NewOrder", "SimError"]
