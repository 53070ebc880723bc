"""A place's twins without a read on its path, while the live feed carries `00` events.

A place journals with its intent the numbers of the identical orders already at the
broker (its `twins`: reconcile.py never claims one). Read right before the POST they
cost a ka10075 (and a ka10076 for a type that fills on arrival) on the order's path.
While the feed is up and the broker acknowledged this account's `00` registration, this
keeps instead:

- a standing read: one ka10075 for every symbol (and one ka10076, when the plan has an
  order type that fills on arrival), sent after that acknowledgement, and again when it
  is REFRESH_SECONDS old, at the rate budget's lowest priority (after trigger polls);
- every order number a `00` event announced since that acknowledgement (any event:
  accepted, filled, modified, cancelled), with the event's symbol.

A place's twins are then the latest standing read's identical rows plus every number
announced on its symbol (identical or not: a twin is only ever kept from a claim, and
an order announced before our POST cannot be ours; an event without a symbol counts for
every symbol; reconcile.py compares numbers only among rows of the request's symbol).

An order at the broker before the POST was either there when the read was served (listed
if open, or in the fills), or accepted after the read was sent, and then announced, as
long as the events flowed without a gap. So the standing read holds only while the feed
stays up after the acknowledgement it followed: a drop, a stall, a re-login or a frame
that could not be read (it may have been a `00`) ends it (`gap`), and until the feed is
back and a new read is in, a place reads synchronously as before (`evidence` answers
None). A read older than MAX_AGE_SECONDS (its refresh could not go) is not used either:
it bounds the cost of an event the broker failed to push. Nor is the feed trusted when
it has received nothing (no push, no PING) for QUIET_SECONDS: a stalled socket is told
only after three of the server's PING intervals of silence (kiwoom/feed.py).

    standing = StandingTwins(client, fills=True)     # started by the feed's `orders_live`
    listener: orders_live() -> standing.live(); gap -> standing.skipped();
              state(False) -> standing.gap()
    order events -> standing.announce(event)
    executor.standing = standing; standing.close() at the end
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planrunner.engine.reconcile import _same_symbol, identical
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.exceptions import KiwoomError
from planrunner.kiwoom.ratelimit import background
from planrunner.kiwoom.types import Fill, OpenOrder, ord_key
from planrunner.model import WireRequest

_log = logging.getLogger(__name__)

REFRESH_SECONDS = 45.0
MAX_AGE_SECONDS = 60.0
QUIET_SECONDS = 1.0  # a feed silent longer may be stalled (told after 3 PING intervals)
RETRY_SECONDS = 1.0  # after a standing read that failed


@dataclass(frozen=True, slots=True)
class _Read:
    epoch: int  # the acknowledgement it followed
    sent: float  # time.monotonic() when it was sent
    rows: tuple[OpenOrder | Fill, ...]
    fills: bool  # the fills were read too


class StandingTwins:
    def __init__(
        self,
        client: KiwoomClient,
        *,
        fills: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        # When the feed last received a frame (Feed.heard), once it is known.
        self.heard: Callable[[], float] | None = None
        self._fills = fills
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._epoch = 0  # bumped by every acknowledgement and every gap
        self._live = False
        self._read: _Read | None = None
        # Number without padding -> (as announced, the event's symbol).
        self._announced: dict[str, tuple[str, str]] = {}
        self._closed = False
        self._thread: threading.Thread | None = None
        self.reads = 0  # standing reads done (for tests and benches)
        self.used = 0  # places whose twins came from here

    # ---- the feed's side ---------------------------------------------------------------

    def live(self) -> None:
        """The broker acknowledged the `00` registration: what came before is forgotten,
        announcements count from now, and a new standing read is sent."""
        with self._cond:
            self._restart()

    def _restart(self) -> None:  # under the lock
        if not self._closed:
            self._epoch += 1
            self._live = True
            self._read = None
            self._announced.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="standing-twins", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def skipped(self) -> None:
        """The feed (still up) skipped a frame, maybe a `00` event: while the events flow
        (the registration acknowledged), as `live`; before, nothing flows to count from."""
        with self._cond:
            if self._live:
                self._restart()

    def gap(self) -> None:
        """The feed went down: an event may be lost."""
        with self._cond:
            self._epoch += 1
            self._live = False
            self._read = None
            self._announced.clear()
            self._cond.notify_all()

    def announce(self, event: Any) -> None:
        """A `00` event: every number it names is at the broker (or was)."""
        with self._cond:
            if not self._live:
                return
            for number in (event.ord_no, event.orig_ord_no):
                if number:
                    self._announced.setdefault(ord_key(number), (number, event.symbol))

    @property
    def ready(self) -> bool:
        """A standing read is in and usable (for tests and benches)."""
        with self._cond:
            read = self._read
            return self._live and read is not None and read.epoch == self._epoch

    def announced(self) -> set[str]:
        """The numbers announced since the acknowledgement, without padding."""
        with self._cond:
            return set(self._announced)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self.gap()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # ---- the place's side --------------------------------------------------------------

    def evidence(self, fills: bool, request: WireRequest) -> dict[str, Any] | None:
        """The place's twins from the standing read and the announcements, or None when
        there is no standing read to trust (the place reads synchronously)."""
        with self._cond:
            read = self._read
            if (
                not self._live
                or read is None
                or read.epoch != self._epoch
                or (fills and not read.fills)
                or self._monotonic() - read.sent > MAX_AGE_SECONDS
                or (self.heard is not None and self._monotonic() - self.heard() > QUIET_SECONDS)
            ):
                return None
            announced = list(self._announced.items())
            self.used += 1
        symbol = request.body.get("stk_cd", "")
        twins = {k: n for k, (n, listed) in announced if _same_symbol(listed, symbol)}
        same = {
            ord_key(o.ord_no): o.ord_no
            for o in read.rows
            if identical(o, request.api_id, request.body)
        }
        twins.update(same)
        return {
            "twins": sorted(twins.values()),
            "twins_read": "open+fills" if fills else "open",
            "twins_from": "feed",
        }

    # ---- the standing read -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._due():
                    self._cond.wait(self._until_due())
                if self._closed:
                    return
                epoch = self._epoch
            sent = self._monotonic()
            try:
                with background():
                    rows: list[OpenOrder | Fill] = list(self._client.open_orders())
                    if self._fills:
                        rows += self._client.fills()
            except Exception as exc:  # read again later; never a dead thread
                with self._cond:
                    if self._closed:
                        return  # e.g. the client closed under it at the end of the run
                    if not isinstance(exc, KiwoomError):
                        _log.warning("standing read failed (%s: %s)", type(exc).__name__, exc)
                    self._cond.wait(RETRY_SECONDS)
                continue
            with self._cond:
                self.reads += 1
                if epoch == self._epoch and self._live:
                    self._read = _Read(epoch, sent, tuple(rows), self._fills)

    def _due(self) -> bool:
        if not self._live:
            return False
        read = self._read
        return read is None or self._monotonic() - read.sent >= REFRESH_SECONDS

    def _until_due(self) -> float | None:
        read = self._read
        if not self._live or read is None:
            return None
        return max(0.01, read.sent + REFRESH_SECONDS - self._monotonic())
