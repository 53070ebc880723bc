"""What the simulator pushes over its WebSocket: `0B` on every price change and `00` on
every order event, with Kiwoom's field numbers, fanned out to the sessions registered for
them (sim/websocket.py).

The broker calls `price` and `order` under the simulator's lock; fan-out only appends to
each session's outbox, so a stalled or slow client never holds the simulator up. The
WebSocket faults (faults.py: ws_drop, ws_stall, ws_malformed, ws_late, ws_repeat) fire here, one
check per push and session.

`00` events (field `913`, the state, and `905`, the kind):

    accepted    접수  +매수 / -매도 (a new order), +매수정정 (a modify), +매수취소 (a cancel)
    filled      체결  910 fill price, 911 fill qty, 902 what is left open
    modified    확인  on the modify's new number, 904 the number it replaced
    cancelled   확인  on the cancel's number (900 the quantity cancelled); 취소 when the
                      broker cancels a rest itself (IOC, FOK)
    rejected    거부  919 the reason; 9203 empty when no number was given
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING, Any, Literal, Protocol

from planrunner.clock import SEOUL
from planrunner.krx.ticks import step

if TYPE_CHECKING:
    from planrunner.sim.faults import Faults, Rule
    from planrunner.sim.faults import Kind as FaultKind
    from planrunner.sim.orders import Order

PING_INTERVAL = 10.0  # seconds between the WebSocket's PINGs when nothing else is sent
EventKind = Literal["accepted", "filled", "modified", "cancelled", "rejected"]
STATE_WORD: dict[EventKind, str] = {
    "accepted": "접수",
    "filled": "체결",
    "modified": "확인",
    "cancelled": "확인",
    "rejected": "거부",
}


class Subscriber(Protocol):
    """A WebSocket session as the hub sees it."""

    def wants(self, kind: str, item: str) -> bool: ...

    def push(self, frame: dict[str, Any], *, kind: str, faults: list[Rule]) -> None: ...


def _hhmmss(at: dt.datetime) -> str:
    return at.astimezone(SEOUL).strftime("%H%M%S")


def _signed(price: int, base: int) -> str:
    return f"+{price}" if price > base else f"-{price}" if price < base else str(price)


def _kind_word(order: Order, kind: EventKind) -> str:
    sign, side = ("+", "매수") if order.side == "buy" else ("-", "매도")
    if order.kind == "modify":
        return f"{sign}{side}정정"
    if order.kind == "cancel":
        return f"{sign}{side}취소"
    return f"{sign}{side}"


def order_values(
    order: Order,
    kind: EventKind,
    at: dt.datetime,
    *,
    fill_qty: int = 0,
    fill_price: int = 0,
    by_broker: bool = False,
) -> dict[str, str]:
    """The `values` of one `00` event for `order` (all strings, Kiwoom's field numbers)."""
    state = STATE_WORD[kind]
    if kind == "cancelled" and by_broker:
        state = "취소"
    qty = order.acted if order.kind == "cancel" and not order.holds else order.qty
    return {
        "9201": "",  # account number: the simulator has one account
        "9203": order.ord_no,
        "9001": order.symbol,
        "904": order.orig_ord_no or "0000000",
        "913": state,
        "905": _kind_word(order, kind),
        "907": "2" if order.side == "buy" else "1",
        "900": str(qty),
        "901": str(order.price or 0),
        "902": str(order.remaining),
        "910": str(fill_price) if fill_qty else "",
        "911": str(fill_qty) if fill_qty else "",
        "908": _hhmmss(at),
        "919": "",
    }


def rejected_values(
    *,
    symbol: str,
    side: str,
    qty: int,
    price: int | None,
    orig_ord_no: str | None,
    word: str,
    reason: str,
    at: dt.datetime,
) -> dict[str, str]:
    """A `00` 거부 for a request the broker refused (it got no number)."""
    return {
        "9201": "",
        "9203": "",
        "9001": symbol,
        "904": orig_ord_no or "0000000",
        "913": "거부",
        "905": word,
        "907": "2" if side == "buy" else "1",
        "900": str(qty),
        "901": str(price or 0),
        "902": "0",
        "910": "",
        "911": "",
        "908": _hhmmss(at),
        "919": reason,
    }


_WS_FAULTS: tuple[FaultKind, ...] = (
    "ws_drop",
    "ws_stall",
    "ws_malformed",
    "ws_late",
    "ws_repeat",
)


class Hub:
    """The sessions and what they registered; the last price pushed per symbol."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._sessions: list[Subscriber] = []
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}
        self.pushed = 0  # frames handed to sessions (for tests and the control endpoint)

    def add(self, session: Subscriber) -> None:
        with self._lock:
            self._sessions.append(session)

    def remove(self, session: Subscriber) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)

    def sessions(self) -> list[Subscriber]:
        with self._lock:
            return list(self._sessions)

    def wants_prices(self) -> bool:
        return any(s.wants("0B", "*") for s in self.sessions())

    def wants_pushes(self) -> bool:
        """Whether a session registered prices or its orders' events (`00`)."""
        return any(s.wants("0B", "*") or s.wants("00", "") for s in self.sessions())

    def seen(self, symbol: str, price: int) -> None:
        """The price a symbol has when a session registers it: the next change pushes."""
        self._last.setdefault(symbol, price)

    @property
    def active(self) -> bool:
        """Whether any session is connected (nothing is built for pushes otherwise)."""
        return bool(self._sessions)

    def price(self, symbol: str, price: int, base: int, kind: str, at: dt.datetime) -> None:
        if self._last.get(symbol) == price:
            return
        self._last[symbol] = price
        if not self._sessions:
            return
        values = {
            "10": _signed(price, base),
            "20": _hhmmss(at),
            "27": _signed(step(price, 1, kind), base),
            "28": _signed(price, base),
            "15": "+1",
            "13": "1",
        }
        self._fan_out("0B", symbol, "주식체결", values)

    def order(self, values: dict[str, str]) -> None:
        if not self._sessions:
            return
        self._fan_out("00", "", "주문체결", values)

    def _fan_out(self, kind: str, item: str, name: str, values: dict[str, str]) -> None:
        frame = {
            "trnm": "REAL",
            "data": [{"type": kind, "name": name, "item": item, "values": values}],
        }
        for session in self.sessions():
            if not session.wants(kind, item):
                continue
            fired = [
                rule for fault in _WS_FAULTS if (rule := self._faults.take(fault, kind)) is not None
            ]
            session.push(frame, kind=kind, faults=fired)
            self.pushed += 1
