"""Prices from the live feed (pushed `0B`), polling (ka10001) while the feed is down.

    push = PushPrices(poll=client.quote_price, emit=emit, clock=clock)
    feed = client.feed(push.listener()); feed.watch_prices(symbols); feed.start()
    TriggerWatcher(..., prices=push)

While the feed is up, a symbol's price is the latest pushed one: it is read once by
polling when first asked (Kiwoom pushes on change only, never a snapshot), then comes
from the feed alone. The watcher waits on `wait_change` and evaluates the triggers on a
symbol as soon as its price arrives. When the feed goes down the pushed prices are
forgotten (they would go stale) and every price is polled again, at the plan's
`price_poll`; the output says so once per outage, and once when the feed is back.
Order events (`00`) are handed to `on_order`, if given, and with the feed's `00`
registration and gaps to `standing` (standing.py: the twins of a place while up).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from planrunner.clock import Clock
from planrunner.engine.events import INFO, WARNING, Emit, Event
from planrunner.engine.standing import StandingTwins


class PushPrices:
    def __init__(
        self,
        *,
        poll: Callable[[str], int],
        emit: Emit,
        clock: Clock,
        on_order: Callable[[Any], None] | None = None,
        observe: Callable[[str, int], object] | None = None,
        free: Callable[[], bool] = lambda: True,  # a ka10001 could go now without waiting
        say_state: bool = True,  # False: the process says the shared feed's state once
        standing: StandingTwins | None = None,  # a place's twins, kept while the feed is up
    ) -> None:
        self._poll = poll
        self._free = free
        self._observe = observe  # the journal's price log (engine/prices.py)
        self._emit = emit
        self._clock = clock
        self.on_order = on_order
        self.standing = standing
        self._latest: dict[str, int] = {}
        self._changed: set[str] = set()
        self._cond = threading.Condition()
        self.up = False
        self._notice = FeedNotice()
        self._say_state = say_state
        self.polls = 0  # prices read by polling (the seed per symbol, and while down)
        self.pushed = 0  # prices taken from the feed

    # ---- the watcher's side ------------------------------------------------------------

    def price(self, symbol: str) -> int:
        with self._cond:
            if self.up and symbol in self._latest:
                return self._latest[symbol]
        price = self._poll(symbol)
        with self._cond:
            self.polls += 1
            if self.up:
                self._latest.setdefault(symbol, price)  # a push that came meanwhile wins
                return self._latest[symbol]
        return price

    def known(self, symbols: list[str]) -> dict[str, int]:
        """Prices for these symbols: while the feed is down, each polled (the fallback);
        while it is up, the pushed ones, and a symbol not pushed yet polled only while a
        ka10001 could go without waiting (the rest wait for a push or a later tick)."""
        out: dict[str, int] = {}
        for symbol in symbols:
            with self._cond:
                if self.up and symbol in self._latest:
                    out[symbol] = self._latest[symbol]
                    continue
                seed = self.up
            if seed and not self._free():
                continue
            out[symbol] = self.price(symbol)
        return out

    def wait_change(self, timeout: float) -> set[str]:
        """Symbols whose pushed price changed since the last call (waits up to `timeout`
        for one, and returns at once when the feed goes down)."""
        with self._cond:
            if not self._changed and self.up:
                self._cond.wait(timeout)
            changed, self._changed = self._changed, set()
            return changed

    # ---- the feed's side (kiwoom.feed.Listener) ----------------------------------------

    def listener(self) -> _Listener:
        return _Listener(self)

    def _pushed(self, symbol: str, price: int) -> None:
        with self._cond:
            self.pushed += 1
            changed = self._latest.get(symbol) != price
            if changed:
                self._latest[symbol] = price
                self._changed.add(symbol)
                self._cond.notify_all()
        if changed and self._observe is not None:
            # A failed journal write stops the run (journal.failure); the feed goes on.
            with contextlib.suppress(Exception):
                self._observe(symbol, price)

    def _state(self, up: bool, why: str) -> None:
        now = self._clock.now()
        with self._cond:
            changed, said = self._notice.change(up, why)
            if changed:
                self.up = up
                if not up:
                    self._latest.clear()
                    self._changed.clear()
                self._cond.notify_all()
        if said is not None and self._say_state:
            self._emit(Event(kind=said[0], at=now, message=said[1]))


class FeedNotice:
    """What the output says when the feed's state changes: once per outage (`live feed
    down`), once when it is back, once if the first connection fails and once when it
    then connects. One per plan, or one per process when plans share the feed."""

    def __init__(self) -> None:
        self.up = False
        self._was_up = False
        self._said_never = False

    def change(self, up: bool, why: str) -> tuple[bool, tuple[str, str] | None]:
        """(whether the state changed, (event kind, text) to say or None)."""
        if not up and not self.up and not self._was_up:
            if self._said_never:
                return False, None
            self._said_never = True
            text = f"live feed not connected ({why}): polling prices until it connects"
            return False, (WARNING, text)
        if up == self.up:
            return False, None
        self.up = up
        was_up, self._was_up = self._was_up, self._was_up or up
        if not up:
            return True, (WARNING, f"live feed down ({why}): polling prices until it returns")
        if was_up:
            return True, (INFO, "live feed back: prices are pushed again")
        if self._said_never:
            return True, (INFO, "live feed connected: prices are pushed")
        return True, None


class _Listener:
    def __init__(self, push: PushPrices) -> None:
        self._push = push

    def price(self, tick: Any) -> None:
        self._push._pushed(tick.symbol, tick.price)

    def order(self, event: Any) -> None:
        if self._push.standing is not None:
            self._push.standing.announce(event)
        if self._push.on_order is not None:
            self._push.on_order(event)

    def state(self, up: bool, why: str) -> None:
        if not up and self._push.standing is not None:
            self._push.standing.gap()
        self._push._state(up, why)

    def orders_live(self) -> None:
        if self._push.standing is not None:
            self._push.standing.live()

    def gap(self, why: str) -> None:
        # Still up: the events flow again from here, so a new standing read counts
        # (unless the `00` registration was never acknowledged: nothing flows then).
        if self._push.standing is not None:
            self._push.standing.skipped()
