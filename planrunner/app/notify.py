"""Notifications: what a run tells a phone (Telegram, Discord, Slack, e-mail, a webhook).

A `Notifier` wraps the run's `emit`: each event worth a message (a fill, a rejection, a
trigger firing, a market switch, something that needs attention, the end) becomes one
line of text put on a bounded queue, and returns at once. Each URL has its own daemon
thread that sends with apprise, one message at a time, with a timeout per message.

So sending never blocks or delays an order: the engine's thread only formats a line and
appends it to a deque. A full queue drops its oldest message and says so (counted) in
the next one and at the end. A service that fails is reported once, as a warning event,
and never changes an order's outcome or the run's exit code. Every text is scrubbed of
keys and tokens (`redact`); the URLs' own secrets (a bot token) are registered with it
and never printed.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from planrunner.clock import SEOUL
from planrunner.engine.checks import when_filled_text
from planrunner.engine.events import (
    ACKED,
    FAILED,
    FILL,
    REJECTED,
    TRIGGERED,
    UNKNOWN,
    Emit,
    Event,
    RunResult,
)
from planrunner.engine.outcome import Kind
from planrunner.errors import UsageError
from planrunner.plan.rules import NOTIFY_EVENTS
from planrunner.redact import RedactingFilter, redact, register

QUEUE_SIZE = 100  # messages waiting per URL; beyond it the oldest is dropped (and counted)
TIMEOUT = 5.0  # seconds: connect and read timeout of one message
CLOSE_LIMIT = 30.0  # seconds the end of a run waits, at most, for messages still queued
URL_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


class _Failures(logging.Handler):
    """apprise says why a message failed only in its log: keep the last warning of each
    sending thread (scrubbed), and let nothing reach stderr (it may quote a URL)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.addFilter(RedactingFilter())
        self.last: dict[int | None, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.last[record.thread] = record.getMessage()


_failures = _Failures()


def _quiet_apprise() -> None:
    log = logging.getLogger("apprise")
    if _failures not in log.handlers:
        log.addHandler(_failures)
        log.propagate = False


def _service(url: str, timeout: float) -> Any:
    """The apprise plugin for a URL (UsageError if apprise does not know it)."""
    import apprise

    with warnings.catch_warnings():  # apprise's plugins import deprecated modules
        warnings.simplefilter("ignore", DeprecationWarning)
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None or not URL_FORM.match(url):
        scheme = url.split("://")[0] if "://" in url else url[:12]
        raise UsageError(
            f"notification URL {scheme}://…: not a URL apprise knows "
            "(e.g. tgram://TOKEN/CHAT_ID, discord://…, mailto://…, json://host:port/path)"
        )
    # A URL's own cto=/rto= win; otherwise ours, so a dead service costs one timeout.
    if "cto=" not in url:
        plugin.socket_connect_timeout = timeout
    if "rto=" not in url:
        plugin.socket_read_timeout = timeout
    return plugin


def _secret_parts(url: str, shown: str) -> list[str]:
    """What apprise hides in a URL's private form (a bot token, a password)."""
    visible = set(re.split(r"[/?&=@:]+", shown))
    return [p for p in re.split(r"[/?&=@:]+", url) if p and p not in visible]


class _Channel:
    """One URL: a bounded queue and the daemon thread that sends from it."""

    def __init__(self, url: str, timeout: float, warn: Callable[[str], None]) -> None:
        self.plugin = _service(url, timeout)
        private = str(self.plugin.url(privacy=True))
        register(*_secret_parts(url, private))  # the rest of the URL may be shown
        self.name = private.split("?")[0]
        self.timeout = timeout
        self.warn = warn
        self.queue: collections.deque[tuple[str, str]] = collections.deque()
        self.cond = threading.Condition()
        self.busy = False
        self.closing = False
        self.dropped = 0  # oldest messages dropped: queue full
        self.unsaid_drops = 0  # dropped since the last message that went out
        self.failed = 0
        self.sent = 0
        self.abandoned = 0
        self.attempts = 0
        self.thread = threading.Thread(target=self._loop, name="notify", daemon=True)

    def put(self, title: str, body: str) -> None:
        with self.cond:
            if not self.thread.is_alive() and not self.closing:
                self.thread.start()  # with the first message: an unused channel costs none
            if len(self.queue) >= QUEUE_SIZE:
                self.queue.popleft()
                self.dropped += 1
                self.unsaid_drops += 1
            self.queue.append((title, body))
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closing:
                    self.cond.wait()
                if self.closing and self.failed and len(self.queue) > 1:
                    # The run is over and this service failed before: only the last
                    # message (the end) is tried, so a dead service costs one timeout.
                    self.abandoned += len(self.queue) - 1
                    last = self.queue.pop()
                    self.queue.clear()
                    self.queue.append(last)
                if not self.queue:  # closing, all said
                    self.cond.notify_all()
                    return
                title, body = self.queue.popleft()
                if self.unsaid_drops:
                    body += f"\n({self.unsaid_drops} earlier message(s) dropped: queue full)"
                    self.unsaid_drops = 0
                self.busy = True
            ok, why = self._send(title, body)
            if not ok and not self.failed:  # outside the lock: printing may be slow
                self.warn(
                    f"notifications to {self.name} failed ({why}); the run goes on "
                    "and later failures are not reported one by one"
                )
            with self.cond:
                self.busy = False
                self.attempts += 1
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1
                self.cond.notify_all()

    def _send(self, title: str, body: str) -> tuple[bool, str]:
        try:
            ok = bool(self.plugin.notify(body=redact(body), title=redact(title)))
        except Exception as e:  # a plugin's own bug: the run goes on
            return False, redact(f"{type(e).__name__}: {e}")
        why = _failures.last.pop(threading.get_ident(), "") or "the service refused it"
        return ok, redact(why)

    def close(self, patience: float) -> None:
        """Let the queue drain while messages keep going out; give up on a service that
        takes longer than `patience` for one message, and after CLOSE_LIMIT in all."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
            if self.thread.ident is None:  # never started: nothing was queued
                return
            seen = self.attempts
            last = time.monotonic()
            limit = last + max(CLOSE_LIMIT, 2 * patience)
            while self.queue or self.busy:
                if self.attempts != seen:
                    seen, last = self.attempts, time.monotonic()
                left = min(last + patience, limit) - time.monotonic()
                if left <= 0:
                    self.abandoned += len(self.queue) + (1 if self.busy else 0)
                    self.queue.clear()
                    return
                self.cond.wait(left)


def _money(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


class Notifier:
    """The run's messages, from its events, to every URL."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        title: str,
        events: Iterable[str] = NOTIFY_EVENTS,
        orders: dict[str, tuple[str, str]] | None = None,  # order id -> (symbol, side)
        warn: Callable[[str], None],
        timeout: float = TIMEOUT,
    ) -> None:
        _quiet_apprise()
        self.title = title
        self.events = frozenset(events)
        self.orders = orders or {}
        self.timeout = timeout
        self._warn = warn
        self._lock = threading.Lock()
        self._closed = False
        self._fills: dict[str, tuple[int, int]] = {}  # order -> (filled, value) last told
        self.channels = [_Channel(u, timeout, self._warning) for u in dict.fromkeys(urls)]

    def _warning(self, text: str) -> None:
        with self._lock:  # after close, the run's output is no longer ours to write to
            if not self._closed:
                self._warn(text)

    def wrap(self, emit: Emit) -> Emit:
        """`emit` that also queues a message for the events worth one."""

        def both(event: Event) -> None:
            emit(event)
            self.event(event)

        return both

    def send(self, what: str, text: str) -> None:
        if what not in self.events:
            return
        for ch in self.channels:
            ch.put(self.title, text)

    def event(self, e: Event) -> None:
        try:
            what, text = self._text(e)
        except Exception:  # a message is never worth an exception in an order's thread
            return
        if what:
            at = e.at.astimezone(SEOUL)
            self.send(what, f"{at:%H:%M:%S} {text}")

    def _text(self, e: Event) -> tuple[str, str]:
        who = e.order or e.job or ""
        if e.kind == FILL and e.order:
            return "fill", self._fill(e)
        if e.kind == REJECTED:
            return "rejected", f"rejected: {who}: {e.message}"
        if e.kind == TRIGGERED:
            return "trigger", e.message
        if e.kind == ACKED and e.data.get("kind") == "market":
            return "market", f"{who} switched to a market order ({e.message})"
        if e.kind in (FAILED, UNKNOWN) or e.outcome is Kind.IN_DOUBT:
            return "attention", f"needs attention: {who + ': ' if who else ''}{e.message}"
        return "", ""

    def _fill(self, e: Event) -> str:
        order = e.order or ""
        symbol, side = self.orders.get(order, ("", ""))
        filled, value = int(e.data.get("filled", 0)), int(e.data.get("value", 0))
        qty = int(e.data.get("qty", 0))
        before_filled, before_value = self._fills.get(order, (0, 0))
        self._fills[order] = (filled, value)
        remaining = e.data.get("remaining")
        whole = remaining == 0
        head = f"{order} ({side} {symbol})" if symbol else order
        text = f"{'filled' if whole else 'part filled'}: {head} {qty} more, {filled} in all"
        if remaining:
            text += f", {remaining} open"
        if value and filled:
            part = value - before_value
            if before_value or not before_filled:
                text += f" at {_money(part / (filled - before_filled))}"
            text += f" (average {_money(value / filled)})"
        if e.data.get("time"):  # when it filled: the broker's time, else when it was seen
            text += when_filled_text(e.data, e.at).replace(" (when it was seen)", "")
        return text

    def finish(self, result: RunResult, summary: str) -> None:
        """The end of the run: what needs attention, then the summary line."""
        if result.attention:
            self.send(
                "attention",
                "needs attention:\n" + "\n".join(f"- {a}" for a in result.attention),
            )
        self.send("end", summary)

    def close(self) -> list[str]:
        """Wait for the queues to drain (no longer than a timeout without progress per
        service); the notes to print about messages dropped or not sent."""
        for ch in self.channels:
            ch.close(self.timeout + 1.0)
        with self._lock:
            self._closed = True
        notes = []
        for ch in self.channels:
            parts = []
            if ch.dropped:
                parts.append(f"{ch.dropped} dropped (queue full)")
            if ch.abandoned:
                parts.append(f"{ch.abandoned} not sent when the run ended")
            if parts:
                notes.append(f"notifications to {ch.name}: {', '.join(parts)}")
        return notes


def summary_line(name: str, result: RunResult) -> str:
    """The run's end in one line: exit code, jobs by state, orders filled/ordered."""
    counts: dict[str, int] = {}
    for state in result.jobs.values():
        key = state.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    jobs = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no jobs"
    orders = "; ".join(f"{o.order} {o.filled}/{o.ordered} {o.state}" for o in result.orders)
    text = f"{name} ended, exit {result.exit_code}: jobs {jobs}"
    if orders:
        text += f"; orders {orders}"
    if result.attention:
        text += f"; {len(result.attention)} need(s) attention"
    return text
