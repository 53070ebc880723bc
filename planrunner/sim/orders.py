"""Orders as the simulated broker keeps them, and the frozen snapshot it hands out.

Every accepted place, modify and cancel gets its own 7-digit number. A modify moves qty
from the order it acts on to a new number (which keeps the order type and takes the new
price); a cancel takes qty out of the order it acts on and is recorded under a new number
of kind "cancel". A partial cancel leaves the rest open under the original number, as
Kiwoom does. `base_ord_no` is the first number of the lineage (Kiwoom's base_orig_ord_no).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Side = Literal["buy", "sell"]
Kind = Literal["order", "modify", "cancel"]
# open: remaining > 0 · filled / cancelled / modified: what took the last of it ·
# confirmed: a cancel record (never open itself)
State = Literal["open", "filled", "cancelled", "modified", "confirmed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    qty: int
    price: int
    at: dt.datetime


@dataclass(slots=True, kw_only=True)
class Order:
    ord_no: str
    kind: Kind
    symbol: str
    side: Side
    order_type: str  # plan vocabulary: limit, market, stop_limit, ...
    trde_tp: str
    exchange: str
    qty: int
    price: int | None  # limit price; None for market-like types
    stop_price: int | None
    orig_ord_no: str | None  # the order this one acted on
    base_ord_no: str  # first number of the lineage
    placed_at: dt.datetime
    triggered: bool = True  # stop-limit orders wait for their stop price
    filled: int = 0
    cancelled: int = 0
    moved: int = 0  # qty moved to a newer number by modify
    acted: int = 0  # a cancel record: the quantity it cancelled
    holds: bool = False  # a cancel number that holds the rest (behaviour remainder=cancel)
    state: State = "open"
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        if self.kind == "cancel" and not self.holds:
            return 0
        return self.qty - self.filled - self.cancelled - self.moved

    @property
    def avg_fill_price(self) -> int:
        if not self.fills:
            return 0
        return sum(f.qty * f.price for f in self.fills) // sum(f.qty for f in self.fills)

    def settle(self, reason: State) -> None:
        if self.remaining == 0 and self.state == "open":
            self.state = reason

    def view(self) -> OrderView:
        return OrderView(
            ord_no=self.ord_no,
            kind=self.kind,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            trde_tp=self.trde_tp,
            exchange=self.exchange,
            qty=self.qty,
            price=self.price,
            stop_price=self.stop_price,
            filled=self.filled,
            remaining=self.remaining,
            avg_fill_price=self.avg_fill_price,
            cancelled=self.cancelled,
            moved=self.moved,
            state=self.state,
            orig_ord_no=self.orig_ord_no,
            base_ord_no=self.base_ord_no,
            placed_at=self.placed_at,
            fills=tuple(self.fills),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """A snapshot of one order number, for tests and the `/_sim/orders` endpoint."""

    ord_no: str
    kind: Kind
    symbol: str
    side: Side
    order_type: str
    trde_tp: str
    exchange: str
    qty: int
    price: int | None
    stop_price: int | None
    filled: int
    remaining: int
    avg_fill_price: int  # 0 until something fills
    cancelled: int
    moved: int
    state: State
    orig_ord_no: str | None
    base_ord_no: str
    placed_at: dt.datetime
    fills: tuple[Fill, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "ord_no": self.ord_no,
            "kind": self.kind,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "trde_tp": self.trde_tp,
            "exchange": self.exchange,
            "qty": self.qty,
            "price": self.price,
            "stop_price": self.stop_price,
            "filled": self.filled,
            "remaining": self.remaining,
            "avg_fill_price": self.avg_fill_price,
            "cancelled": self.cancelled,
            "moved": self.moved,
            "state": self.state,
            "orig_ord_no": self.orig_ord_no,
            "base_ord_no": self.base_ord_no,
            "placed_at": self.placed_at.isoformat(),
            "fills": [{"qty": f.qty, "price": f.price, "at": f.at.isoformat()} for f in self.fills],
        }
