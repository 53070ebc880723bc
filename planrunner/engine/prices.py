"""Market prices the run observed, kept in the journal for the day's report (bounded).

Every price the runner reads (the trigger polls, the pre-send checks' quote reads, a
push feed) goes through `PriceLog.observe(symbol, price, source=...)`, the one place
that decides what is kept. A `price` record is written when, for its symbol:
  - the price differs from the last one recorded, and
  - at least `MIN_SPACING` of the plan's clock passed since that record (a burst of
    changes within it keeps the first; the next observation after it records the price
    then, so a level that holds is never lost), and
  - fewer than `CAP_PER_DAY` records were written for the symbol in the day's journal;
    the record that reaches the cap says `capped: true` and nothing more is recorded for
    that symbol that day (the report says from when its path is missing).
At 1 s spacing a symbol fills at most ~6.5 hours × 3,600 = 23,400 slots in a regular
session, so the cap (10,000 records, about 1 MB) binds only on a busy feed.

Price records are never fsynced (they are not intents) and never block a request: a
journal that cannot take one stops the run like any other failed write, since nothing
may be sent after a record was lost.
"""

from __future__ import annotations

import datetime as dt
import threading

from planrunner.clock import Clock
from planrunner.engine.journal import Journal

MIN_SPACING = dt.timedelta(seconds=1)
CAP_PER_DAY = 10_000


class PriceLog:
    """Decides which observed prices reach the journal (see the module docstring).

    Threads: `observe` may be called from any thread (trigger poll, job threads, a feed)."""

    def __init__(self, journal: Journal, clock: Clock):
        self.journal = journal
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[int, dt.datetime | None]] = {}
        self._count: dict[str, int] = {}
        # A resumed day continues the journal's own count and last price per symbol.
        for rec in journal.state.records:
            if rec.get("type") == "price":
                symbol = str(rec.get("symbol", ""))
                self._count[symbol] = self._count.get(symbol, 0) + 1
                self._last[symbol] = (int(rec.get("price", 0)), None)

    def observe(self, symbol: str, price: int, *, source: str) -> bool:
        """Record `price` for `symbol` if the rules allow; True if it was written.
        `source`: where it came from (`poll`, `check`, `feed`)."""
        if not symbol or not isinstance(price, int) or price <= 0:
            return False
        now = self.clock.now()
        with self._lock:
            count = self._count.get(symbol, 0)
            if count >= CAP_PER_DAY:
                return False
            last = self._last.get(symbol)
            if last is not None:
                last_price, last_at = last
                if price == last_price:
                    return False
                if last_at is not None and now - last_at < MIN_SPACING:
                    return False
            count += 1
            rec: dict[str, object] = {
                "type": "price",
                "symbol": symbol,
                "price": price,
                "at": now.isoformat(timespec="milliseconds"),
                "source": source,
            }
            if count >= CAP_PER_DAY:
                rec["capped"] = True
            self._count[symbol] = count
            self._last[symbol] = (price, now)
            self.journal.append(rec)
        return True
