"""The plan's orders between its steps: fills noticed at the poll rate, closed orders known.

While the live feed is up, its `00` events print each fill as it happens
(`Executor.note_pushed`) and `poke` this watch, which reads the order they name at its
next poll to learn whether it closed. While polling (no feed, or the feed down) it reads
the broker's open-order list (one ka10075 for every symbol) each `price_poll`, and only
when the rate limiter has a slot free at once (order requests and the steps' own reads
come first; a poll that would wait, or fall within two seconds before a step starts, is
left for the next one; the simulator's unlimited client polls whatever comes). An order
whose row changed or left the list is read in full (`status` on the rows just read, plus
the fills list), which journals and prints its new fills: a fill is printed within a
poll of happening, not at the next step.

`closed()` is what the runner ends on (runner.py, "nothing more can happen"): the orders
the broker showed closed, each valid while its lineage has not grown since.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from planrunner.clock import Clock
from planrunner.engine.events import WARNING, Emit, Event
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal, JournalWriteError
from planrunner.engine.pushprices import PushPrices
from planrunner.errors import BrokerError
from planrunner.kiwoom.codes import OPEN_ORDERS
from planrunner.kiwoom.types import OpenOrder, ord_key

MIN_POLL = 0.05  # real seconds between reads, whatever the clock's speed


class OrderWatch:
    def __init__(
        self,
        *,
        executor: Executor,
        journal: Journal,
        clock: Clock,
        emit: Emit,
        stop: threading.Event,
        every: float,  # real seconds between polls
        prices: object = None,  # PushPrices: reads only what its 00 events name while up
        busy: Callable[[], bool] = lambda: False,  # a step starts soon: leave it the budget
    ) -> None:
        self.busy = busy
        self.ex = executor
        self.journal = journal
        self.clock = clock
        self.emit = emit
        self.stop = stop
        self.every = max(MIN_POLL, every)
        self.prices = prices if isinstance(prices, PushPrices) else None
        self._guard = threading.Lock()
        self._closed: dict[str, tuple[int, str]] = {}  # order -> (lineage length, why)
        self._rows: dict[str, tuple[tuple[str, int, int], ...]] = {}  # order -> its open rows
        self._poked: set[str] = set()  # ord_no named by a pushed event since the last poll
        self.version = 0  # grows each time an order is seen closed
        self.reads = 0  # open-order list reads (tests and benches)
        self.failure: str | None = None
        self.traceback = ""
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()  # the run is over
        self._last_warning = ""

    # ---- what others ask ----------------------------------------------------------------

    def poke(self, event: Any) -> None:
        """A pushed order event (the feed's thread). One that may have closed its number
        (a fill with nothing left open, a cancel, a rejection) has it read next poll; the
        rest cost nothing (an accepted order, a partial fill: the feed printed it)."""
        if event.kind == "filled" and event.open_qty > 0:
            return
        if event.kind not in ("filled", "cancelled", "rejected"):
            return
        with self._guard:
            self._poked.add(ord_key(event.ord_no))

    def closed(self) -> dict[str, str]:
        """Orders the broker showed closed (`filled`, `cancelled`, ...), still so as far as
        the journal knows (a later place on the same order reopens it)."""
        with self._guard:
            items = list(self._closed.items())
        lineage = self.journal.state.lineage
        return {o: why for o, (n, why) in items if len(lineage.get(o, ())) == n}

    # ---- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="orders", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            while not self._halt.wait(self.every) and not self.stop.is_set():
                try:
                    self._poll()
                except BrokerError as e:
                    if str(e) != self._last_warning:  # once per distinct failure
                        self._last_warning = str(e)
                        text = f"order poll failed, still watching: {e}"
                        self.emit(Event(kind=WARNING, at=self.clock.now(), message=text))
        except JournalWriteError:
            self.stop.set()  # the runner reports the journal's failure
        except Exception as e:
            self.failure = f"order watch stopped: {type(e).__name__}: {e}"
            self.traceback = "".join(traceback.format_exception(e))
            self.emit(Event(kind=WARNING, at=self.clock.now(), message=self.failure))

    def _placed(self) -> list[str]:
        """The plan's orders at the broker not yet known closed."""
        closed = self.closed()
        lineage = self.journal.state.lineage
        return [o for o in list(self.ex.orders) if lineage.get(o) and o not in closed]

    def _poll(self) -> None:
        orders = self._placed()
        with self._guard:
            poked, self._poked = self._poked, set()
        if not orders:
            return
        rows: list[OpenOrder] | None = None
        limiter = self.ex.client.limiter
        if (limiter.limited and self.busy()) or not limiter.free(OPEN_ORDERS):
            with self._guard:
                self._poked |= poked  # not read this time: kept for the next poll
            return
        if self.prices is not None and self.prices.up:
            # The feed prints fills; read only the orders its events may have closed.
            due = [o for o in orders if self._numbers(o) & poked]
            for o in due:
                self._rows[o] = ()
            # A push can overtake its order's answer: a number not journaled yet waits.
            waiting = poked - set().union(*(self._numbers(o) for o in due))
            with self._guard:
                if len(self._poked) < 1000:
                    self._poked |= waiting
        else:
            rows = self.ex.client.open_orders()
            self.reads += 1
            due = [o for o in orders if self._changed(o, rows)]
        for order in due:
            st = self.ex.settled_status(order, rows)  # journals and prints new fills
            if st is None or st.is_open or st.doubt:
                if st is None:
                    self._rows.pop(order, None)  # in flight: read it again next poll
                continue
            target = self.ex.targets.get(order)
            if st.filled and (target is None or st.filled >= target):
                why = "filled"
            elif st.filled:
                why = f"{st.filled} filled, the rest cancelled"
            else:
                why = "cancelled"
            n = len(self.journal.state.lineage.get(order, ()))
            with self._guard:
                self._closed[order] = (n, why)
                self.version += 1

    def _numbers(self, order: str) -> set[str]:
        return {ord_key(x.ord_no) for x in self.journal.state.lineage.get(order, ()) if x.ord_no}

    def _changed(self, order: str, rows: list[OpenOrder]) -> bool:
        """Whether the order's open rows differ from the last poll's (or it has none)."""
        numbers = self._numbers(order)
        mine = tuple(
            sorted(
                (ord_key(r.ord_no), r.open_qty, r.filled_qty)
                for r in rows
                if r.open_qty > 0
                and (ord_key(r.ord_no) in numbers or ord_key(r.orig_ord_no or "") in numbers)
            )
        )
        before = self._rows.get(order)
        self._rows[order] = mine
        return not mine if before is None else mine != before
