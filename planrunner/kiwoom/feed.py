"""The live feed: Kiwoom's real-time WebSocket, read by one thread.

    feed = client.feed(listener)            # or Feed(ws_url_for(base_url), tokens, listener)
    feed.watch_prices(["005930"]); feed.watch_orders(); feed.start()
    feed.wait_up(10.0)                      # True once logged in and registered
    ...
    feed.close()

The thread connects, sends `LOGIN` with the token and waits for its ack, then registers
everything asked for (`REG`: `0B` prices in group 1, `00` order events in group 2) and
reads. It echoes every `PING` unchanged. When the connection ends, fails, or stays
silent too long (a stalled socket: the server PINGs while idle; `stall_after`: three of
the server's PING intervals as learned from the connection, at least `min_stall`, at
most `idle_timeout`, which is also the bound until two PINGs have been seen), it
tells the listener the feed is down (at once: before closing the stalled socket),
waits (backoff from 0.2 s doubling to 5 s, with a little jitter, reset by a successful
LOGIN) and connects again, registering the same
things again. A LOGIN refused with 8005 renews the token once (the TokenKeeper's
single-flight refresh) before the next attempt. A frame that is not JSON, or not the
shape Kiwoom sends, is counted and skipped.

The listener is called on the feed's thread: `price(PriceTick)`, `order(OrderEvent)`,
`state(up, why)` (once per change, and once if the first connection fails),
`orders_live()` (the broker acknowledged the `00` registration of this connection) and
`gap(why)` (a frame that could not be read while up: it may have been an order event).
It must return quickly.

Secrets: the LOGIN frame carries the token; websockets' own logger is kept at WARNING
(its DEBUG lines quote frames), and every reason given to the listener is scrubbed.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import random
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from planrunner.kiwoom.token import Token
from planrunner.redact import redact

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, LOGIN's token included: keep it above that.
_wire_log = logging.getLogger("planrunner.kiwoom.feed.websockets")
_wire_log.setLevel(logging.WARNING)

PATH = "/api/dostk/websocket"
# Stall detection (docs/feed.md, "Reconnect"): silence longer than STALL_PINGS of the
# server's PING intervals (learned; the simulator PINGs after 10 s of silence), never
# shorter than MIN_STALL, never longer than IDLE_TIMEOUT (also the bound before the
# interval is known: three 10 s intervals).
STALL_PINGS = 3
MIN_STALL = 5.0
IDLE_TIMEOUT = 30.0
MAX_PATIENCE = 120.0
PING_SAMPLES = 8
KIWOOM_HOSTS = ("api.kiwoom.com", "mockapi.kiwoom.com")
KIWOOM_WS_PORT = 10000
PRICE_GROUP = "1"
ORDER_GROUP = "2"

OrderKind = Literal["accepted", "filled", "modified", "cancelled", "rejected"]


def ws_url_for(base_url: str) -> str:
    """The WebSocket URL that goes with a REST base URL: Kiwoom's own hosts serve it on
    port 10000 (wss), any other server (the simulator) on its REST port (ws or wss)."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    host = parts.hostname or ""
    if host in KIWOOM_HOSTS:
        return f"wss://{host}:{KIWOOM_WS_PORT}{PATH}"
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}{PATH}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTick:
    """One `0B` push: the trade price (without its sign) and the broker's HHmmss."""

    symbol: str
    price: int
    time: str
    received: float  # time.monotonic() when it was read


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """One `00` push about this account's orders (Kiwoom's field numbers in comments)."""

    kind: OrderKind
    ord_no: str  # 9203 ("" for a refused request that got no number)
    orig_ord_no: str  # 904 ("" when none)
    symbol: str  # 9001
    side: str  # 907: buy / sell
    state: str  # 913 as sent: 접수, 체결, 확인, 취소, 거부
    label: str  # 905: +매수, -매도, +매수정정, -매도취소, ...
    order_qty: int  # 900
    order_price: int  # 901
    open_qty: int  # 902
    fill_qty: int  # 911 (0 unless filled)
    fill_price: int  # 910 (0 unless filled)
    time: str  # 908 HHmmss
    reason: str  # 919
    received: float

    @property
    def filled_qty(self) -> int:
        """What the order has filled so far, as the event tells: ordered - still open."""
        return max(0, self.order_qty - self.open_qty)


class Listener(Protocol):
    def price(self, tick: PriceTick) -> None: ...

    def order(self, event: OrderEvent) -> None: ...

    def state(self, up: bool, why: str) -> None: ...

    def orders_live(self) -> None:
        """The broker acknowledged the `00` registration: from now until the next
        `state(False, ...)` or `gap(...)`, every order event of the account is delivered."""

    def gap(self, why: str) -> None:
        """A frame could not be read while up: an event (a `00` too) may have been lost."""


class Tokens(Protocol):
    def get(self) -> Token: ...

    def refused(self, stale: Token) -> Token: ...


def _int(text: object) -> int:
    s = str(text or "").strip().lstrip("+-")
    return int(s) if s.isdigit() else 0


def _order_kind(state: str, label: str) -> OrderKind | None:
    if state == "접수":
        return "accepted"
    if state == "체결":
        return "filled"
    if state == "확인":
        return "modified" if "정정" in label else "cancelled"
    if state == "취소":
        return "cancelled"
    if state == "거부":
        return "rejected"
    return None


def parse_order(values: dict[str, Any], received: float) -> OrderEvent | None:
    state, label = str(values.get("913", "")).strip(), str(values.get("905", "")).strip()
    kind = _order_kind(state, label)
    if kind is None:
        return None
    orig = str(values.get("904", "")).strip()
    return OrderEvent(
        kind=kind,
        ord_no=str(values.get("9203", "")).strip(),
        orig_ord_no="" if orig.strip("0") == "" else orig,
        symbol=str(values.get("9001", "")).strip().removeprefix("A"),
        side="sell" if str(values.get("907", "")).strip() == "1" else "buy",
        state=state,
        label=label,
        order_qty=_int(values.get("900")),
        order_price=_int(values.get("901")),
        open_qty=_int(values.get("902")),
        fill_qty=_int(values.get("911")),
        fill_price=_int(values.get("910")),
        time=str(values.get("908", "")).strip(),
        reason=str(values.get("919", "")).strip(),
        received=received,
    )


class Feed:
    def __init__(
        self,
        url: str,
        tokens: Tokens,
        listener: Listener,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        min_stall: float = MIN_STALL,
        open_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        close_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self._tokens = tokens
        self._listener = listener
        self.idle_timeout = idle_timeout
        self.min_stall = min_stall
        self._ping_gaps: collections.deque[float] = collections.deque(maxlen=PING_SAMPLES)
        self._last_ping: float | None = None  # monotonic, on the current connection
        # The longest silence allowed: idle_timeout, doubled (up to MAX_PATIENCE) each
        # time a connection is taken for stalled before a single PING was seen on it
        # (a server that PINGs less often than we assumed must not flap the feed).
        self._patience = idle_timeout
        self.open_timeout = open_timeout
        self._backoff = backoff
        self.close_timeout = close_timeout
        self._prices: set[str] = set()
        self._orders = False
        self._lock = threading.Lock()  # the wanted registrations and the live connection
        # REG/REMOVE sent on the live connection, oldest first, each answered in turn
        # (the answer names no group): "00" for the order events' registration.
        self._asked: collections.deque[str] = collections.deque()
        self._send_lock = threading.Lock()  # a registration and its place in `_asked`
        self._ws: ClientConnection | None = None
        self._closed = threading.Event()
        self._up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiwoom-feed", daemon=True)
        # Counters (read by tests and the status line).
        self.connects = 0  # successful LOGINs
        self.pings = 0  # PINGs echoed
        self.malformed = 0  # frames skipped
        self.token_refreshes = 0
        self.attempts = 0  # connections tried
        self.listener_errors = 0  # events whose listener raised (each logged)
        self.heard = 0.0  # time.monotonic() of the last frame received (any: PINGs too)
        self._logged_in = False
        self._told = False  # the listener heard the feed's state at least once

    def __repr__(self) -> str:
        return f"Feed(url={self.url!r}, up={self.up})"

    @property
    def ping_interval(self) -> float | None:
        """The server's PING interval as seen: the median gap between two PINGs in a
        row on one connection (of the last few), None until a gap has been seen."""
        if not self._ping_gaps:
            return None
        return statistics.median(self._ping_gaps)

    @property
    def stall_after(self) -> float:
        """Seconds without any frame (data or PING) after which the connection is taken
        for stalled: STALL_PINGS PING intervals, within [min_stall, idle_timeout]."""
        interval = self.ping_interval
        if interval is None:
            return self._patience
        return min(self._patience, max(self.min_stall, STALL_PINGS * interval))

    # ---- what to receive ---------------------------------------------------------------

    def watch_prices(self, symbols: Iterable[str]) -> None:
        with self._lock:
            new = sorted(set(symbols) - self._prices)
            if not new:
                return
            self._prices.update(new)
            ws = self._ws
        if ws is not None:
            self._send(ws, _reg("REG", PRICE_GROUP, new, "0B"), "0B")

    def unwatch_prices(self, symbols: Iterable[str]) -> None:
        with self._lock:
            gone = sorted(set(symbols) & self._prices)
            if not gone:
                return
            self._prices.difference_update(gone)
            ws = self._ws
        if ws is not None:
            self._send(ws, _reg("REMOVE", PRICE_GROUP, gone, "0B"), "0B")

    def watch_orders(self) -> None:
        with self._lock:
            if self._orders:
                return
            self._orders = True
            ws = self._ws
        if ws is not None:
            self._send(ws, _reg("REG", ORDER_GROUP, [""], "00"), "00")

    # ---- running -----------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def start(self) -> Feed:
        self._thread.start()
        return self

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        delay = self._backoff[0]
        why = ""
        while not self._closed.is_set():
            self._logged_in = False
            self.attempts += 1
            try:
                why = self._session()
            except _LoginRefused as exc:
                why = exc.reason
                if exc.renewed:
                    delay = self._backoff[0]
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                why = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    self._ws = None
            if self._logged_in:
                delay = self._backoff[0]
            self._down(why)
            if self._closed.wait(delay * (1 + random.random() / 5)):
                break
            delay = min(delay * 2, self._backoff[1])
        self._down("closed")

    def _session(self) -> str:
        with connect(
            self.url,
            open_timeout=self.open_timeout,
            proxy=None,
            ping_interval=None,  # Kiwoom PINGs in JSON; its server need not answer ours
            close_timeout=self.close_timeout,
            logger=_wire_log,
            max_size=2**22,
        ) as ws:
            self._login(ws)
            with self._send_lock:
                self._asked.clear()
                with self._lock:
                    self._ws = ws
                    prices, orders = sorted(self._prices), self._orders
                if prices:
                    self._asked.append("0B")
                    ws.send(json.dumps(_reg("REG", PRICE_GROUP, prices, "0B")))
                if orders:
                    self._asked.append("00")
                    ws.send(json.dumps(_reg("REG", ORDER_GROUP, [""], "00")))
            self.connects += 1
            self._logged_in = True
            self._up.set()
            self._told = True
            self._listener.state(True, "connected")
            return self._read(ws)

    def _login(self, ws: ClientConnection) -> None:
        token = self._tokens.get()
        ws.send(json.dumps({"trnm": "LOGIN", "token": token.value}))
        answer = self._await(ws, "LOGIN")
        if answer.get("return_code") in (0, "0"):
            return
        msg = redact(str(answer.get("return_msg", "")))
        if "8005" in msg:
            # The server closes after a refused LOGIN: renew the token (single-flight,
            # shared with the REST calls) and connect again at once.
            self._tokens.refused(token)
            self.token_refreshes += 1
            raise _LoginRefused(f"LOGIN refused ({msg}); token renewed", renewed=True)
        raise _LoginRefused(f"LOGIN refused: {msg}")

    def _await(self, ws: ClientConnection, trnm: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.open_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {trnm} answer in {self.open_timeout:g} s")
            msg = self._decode(ws.recv(timeout=left))
            if msg is None:
                continue
            if msg.get("trnm") == "PING":
                self._echo(ws, msg)
            elif msg.get("trnm") == trnm:
                return msg

    def _read(self, ws: ClientConnection) -> str:
        self._last_ping = None
        while not self._closed.is_set():
            bound = self.stall_after
            try:
                raw = ws.recv(timeout=bound)
            except TimeoutError:
                why = f"nothing received for {bound:g} s (stalled)"
                if self._last_ping is None and self.ping_interval is None:
                    self._patience = max(self._patience, min(2 * bound, MAX_PATIENCE))
                self._down(why)  # polling takes over now, not after the close handshake
                return why
            received = self.heard = time.monotonic()
            msg = self._decode(raw)
            if msg is None:
                continue
            trnm = msg.get("trnm")
            if trnm == "PING":
                if self._last_ping is not None:
                    self._ping_gaps.append(received - self._last_ping)
                self._last_ping = received
                self._echo(ws, msg)
            elif trnm == "REAL":
                self._real(msg, received)
            elif trnm in ("REG", "REMOVE"):
                self._answered(trnm, msg)
        return "closed"

    def _answered(self, trnm: str, msg: dict[str, Any]) -> None:
        with self._send_lock:
            what = self._asked.popleft() if self._asked else ""
        if msg.get("return_code") not in (0, "0"):
            log.warning("feed: %s refused: %s", trnm, redact(str(msg.get("return_msg", ""))))
        elif what == "00" and trnm == "REG":
            self._hand(lambda _: self._listener.orders_live(), None)

    def _decode(self, raw: str | bytes) -> dict[str, Any] | None:
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            msg = None
        if not isinstance(msg, dict):
            self._skipped("a frame that is not a JSON object")
            return None
        return msg

    def _skipped(self, what: str) -> None:
        """A frame (or a part of one) that could not be read: counted, logged, and the
        listener told, since it may have been an order event."""
        self.malformed += 1
        log.warning("feed: skipped %s", what)
        if self._up.is_set():
            self._hand(self._listener.gap, f"skipped {what}")

    def _echo(self, ws: ClientConnection, msg: dict[str, Any]) -> None:
        ws.send(json.dumps(msg, ensure_ascii=False))
        self.pings += 1

    def _real(self, msg: dict[str, Any], received: float) -> None:
        data = msg.get("data")
        if not isinstance(data, list):
            self._skipped("a REAL frame without data")
            return
        for item in data:
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, dict):
                self._skipped("a REAL item without values")
                continue
            kind = item.get("type")
            if kind == "0B":
                price = _int(values.get("10"))
                symbol = str(item.get("item", "")).strip()
                if price and symbol:
                    tick = PriceTick(
                        symbol=symbol,
                        price=price,
                        time=str(values.get("20", "")),
                        received=received,
                    )
                    self._hand(self._listener.price, tick)
                else:
                    self._skipped("a 0B item without a price or code")
            elif kind == "00":
                event = parse_order(values, received)
                if event is None:
                    self._skipped("a 00 item of an unknown kind")
                else:
                    self._hand(self._listener.order, event)

    def _hand(self, deliver: Any, what: Any) -> None:
        """Give the listener one event; its failure is its own: the connection and the
        events after it go on (a dead reader would leave the feed "up" and silent)."""
        try:
            deliver(what)
        except Exception:
            self.listener_errors += 1
            log.warning("feed: the listener failed on an event", exc_info=True)

    def _send(self, ws: ClientConnection, msg: dict[str, Any], what: str) -> None:
        # A failed send means the connection is going: the reader reconnects and
        # registers everything wanted again.
        with self._send_lock, contextlib.suppress(Exception):
            with self._lock:
                if self._ws is not ws:  # a new connection registers everything itself
                    return
            self._asked.append(what)
            ws.send(json.dumps(msg))

    def _down(self, why: str) -> None:
        if self._closed.is_set():  # closed on purpose: nothing to fall back for
            self._up.clear()
            return
        if self._up.is_set() or not self._told:
            # Down after being up, or the very first attempt failed: said once each time.
            self._up.clear()
            self._told = True
            self._listener.state(False, redact(why))


class _LoginRefused(Exception):
    def __init__(self, reason: str, *, renewed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.renewed = renewed


def _reg(trnm: str, grp: str, items: list[str], kind: str) -> dict[str, Any]:
    return {
        "trnm": trnm,
        "grp_no": grp,
        "refresh": "1",
        "data": [{"item": items, "type": [kind]}],
    }
