"""Orders due at one instant leave together: one thread writes them all.

Each job waits for its instant with its request built and connected (kiwoom/channel.py).
When several jobs share an instant, the first to get ready leads: it waits for the
instant, then writes every request that is ready by then, back to back, microseconds
apart; the others only wait for their answers. Left to themselves, five threads waking
at once pass the GIL around and the last request leaves milliseconds late
(docs/performance.md, Firing).

A request the rate limit would hold back is not written by the leader: its own thread
waits for the limit and sends it. A job that gets ready after the instant (its checks ran
late) sends on its own. A failed write is raised in the request's own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from planrunner.kiwoom.channel import Prepared


class Salvo:
    def __init__(self, wait: Callable[[], None]) -> None:
        self._wait = wait  # returns at the instant
        self._lock = threading.Lock()
        self._ready: list[Prepared] = []
        self._closed = False  # the leader has taken the batch: later joiners send alone
        self._written = threading.Event()

    def join(self, request: Prepared) -> None:
        """Return at the instant with `request` written, or for its own thread to send."""
        with self._lock:
            late = self._closed
            if not late:
                self._ready.append(request)
            leader = not late and len(self._ready) == 1
        if late:
            self._wait()
            return
        if not leader:
            self._written.wait()
            if not request.written:  # held back by the rate limit, or the leader failed
                self._wait()
            return
        arrived = False
        try:
            self._wait()
            arrived = True
        finally:
            with self._lock:
                self._closed = True
                batch = list(self._ready)
            try:
                for each in batch if arrived else ():
                    each.offer()
            finally:
                self._written.set()
