"""Condition-driven actions: watch prices and the plan's own fills, fire on a crossing.

Prices come from a `PriceSource`: ka10001 polling at `policy.price_poll` (through the
client's rate limiter), or `PushPrices` (the live feed's 0B pushes, polling while it is
down): then each pushed price is evaluated as it arrives, between full ticks. A polling
sweep decides a price-only trigger as soon as its symbols are read (it fires before the
rest of the sweep is polled: under the rate limits a sweep takes seconds).
A crossing is the condition becoming true after it was false (or true
at the first look). A trigger fires once; with `repeat: true` it fires on every crossing.
Each firing is its own journal job: `trigger:<id>`, then `trigger:<id>#2`, `#3`… so a
later crossing sends its action (a job already acked would send nothing) and a restart
neither fires a finished firing again nor takes the crossing it fired on for a new one
(a half-done firing is finished under its own id). A trigger whose action became
impossible (its order filled or cancelled) is reported, not silently dropped.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import traceback
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol, assert_never

from planrunner.clock import SEOUL, Clock
from planrunner.engine.checks import OrderStatus
from planrunner.engine.events import INFO, SKIPPED, TRIGGERED, WARNING, Emit, Event
from planrunner.engine.execute import Executor, InDoubt
from planrunner.engine.journal import Journal, JournalWriteError
from planrunner.engine.outcome import SkipCode
from planrunner.engine.pushprices import PushPrices
from planrunner.errors import BrokerError
from planrunner.krx import instruments, ticks
from planrunner.krx.days import session
from planrunner.model import (
    Action,
    AllCond,
    AnyCond,
    Cancel,
    CompiledPlan,
    Condition,
    FilledCond,
    Modify,
    OcoGroup,
    PartiallyFilledCond,
    Place,
    PriceCond,
    TrailingCond,
    Trigger,
    action_order,
    trigger_job,
)

TARGET_CHECK_EVERY = 5  # polls between reads of a trigger action's own order
WARM_EVERY = 2.0  # real seconds between order-connection prewarms while the feed is up
FINAL = frozenset({"done", "skipped", "failed"})


class PriceSource(Protocol):
    def price(self, symbol: str) -> int: ...


class PollingPrices:
    """ka10001 current price, one request per symbol per poll (each one offered to the
    journal's price log, `executor.prices`; a push source calls `observe` the same way)."""

    def __init__(self, executor: Executor):
        self.ex = executor

    def price(self, symbol: str) -> int:
        return self.ex.quote(symbol, source="poll").price


def symbols_of(cond: Condition) -> set[str]:
    match cond:
        case PriceCond() | TrailingCond():
            return {cond.symbol}
        case AllCond() | AnyCond():
            return set().union(*(symbols_of(c) for c in cond.items))
        case FilledCond() | PartiallyFilledCond():
            return set()
        case _:
            assert_never(cond)


def orders_of(cond: Condition) -> set[str]:
    match cond:
        case FilledCond() | PartiallyFilledCond():
            return {cond.order}
        case AllCond() | AnyCond():
            return set().union(*(orders_of(c) for c in cond.items))
        case PriceCond() | TrailingCond():
            return set()
        case _:
            assert_never(cond)


def holds(cond: Condition, prices: dict[str, int], fills: dict[str, OrderStatus]) -> bool:
    match cond:
        case PriceCond():
            p = prices.get(cond.symbol)
            if p is None:
                return False
            return {
                "below": p < cond.value,
                "above": p > cond.value,
                "at_or_below": p <= cond.value,
                "at_or_above": p >= cond.value,
            }[cond.op]
        case FilledCond():
            st = fills.get(cond.order)
            return st is not None and not st.is_open and st.filled > 0
        case PartiallyFilledCond():
            st = fills.get(cond.order)
            return st is not None and st.filled > 0
        case TrailingCond():
            return False  # its level is the watcher's (TriggerWatcher._trail)
        case AllCond():
            return all(holds(c, prices, fills) for c in cond.items)
        case AnyCond():
            return any(holds(c, prices, fills) for c in cond.items)
        case _:
            assert_never(cond)


def may_hold(cond: Condition, filled: Callable[[str], int]) -> bool:
    """Whether `cond` could still hold at some price, its named orders being final with
    `filled(order)` filled (0: cancelled unfilled, or never placed)."""
    match cond:
        case PriceCond() | TrailingCond():
            return True
        case FilledCond() | PartiallyFilledCond():
            return filled(cond.order) > 0
        case AllCond():
            return all(may_hold(c, filled) for c in cond.items)
        case AnyCond():
            return any(may_hold(c, filled) for c in cond.items)
        case _:
            assert_never(cond)


def window_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, session(day).regular.end, tzinfo=SEOUL)


def window(trigger: Trigger, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if trigger.between is not None:
        a, b = trigger.between
    else:
        s = session(day)
        a, b = s.regular.start, s.regular.end
    return dt.datetime.combine(day, a, tzinfo=SEOUL), dt.datetime.combine(day, b, tzinfo=SEOUL)


class TriggerWatcher:
    def __init__(
        self,
        *,
        plan: CompiledPlan,
        executor: Executor,
        journal: Journal,
        clock: Clock,
        emit: Emit,
        stop: threading.Event,
        prices: PriceSource | None = None,
    ):
        self.plan = plan
        self.ex = executor
        self.journal = journal
        self.clock = clock
        self.emit = emit
        self.stop = stop
        self.prices = prices or PollingPrices(executor)
        self.armed: list[Trigger] = []
        self.reaction: dict[str, dict[str, str]] = {}  # trigger id -> crossing/first request
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._retired: set[str] = set()
        self.failure: str | None = None  # why the watcher stopped early, if it did
        self.traceback = ""
        self._was_true: set[str] = set()
        self._ticks = 0
        self._warm_at = 0.0  # when to prewarm the order connection next (monotonic)
        self.evaluations = 0  # pushed-price evaluations done (tests wait on it)
        self.fired: dict[str, int] = {}  # trigger id -> firings so far (journal included)
        self.trail: dict[str, tuple[int, int]] = {}  # trailing trigger id -> (best, level)
        self._hit: dict[str, bool] = {}  # trailing trigger id -> at its level this poll
        self.groups: list[OcoGroup] = []  # one-cancels-other groups still watched
        self.states: dict[str, str] = {}  # firing job id -> its final state, this run
        # Orders the broker showed closed (the runner's order watch, if it has one).
        self.closed_orders: Callable[[], dict[str, str]] = dict
        # A firing whose request got no answer: settled from the broker and finished as a
        # step's is (the runner's; None: left unknown, settled by the next run).
        self.settle: Callable[[str, str, Action], str] | None = None
        # Set by the runner when nothing more can happen: trigger id -> why it retires.
        self._ending: dict[str, tuple[SkipCode, str]] | None = None
        speed = clock.virtual_seconds(1.0)
        self.poll_real = max(0.005, plan.policy.price_poll.total_seconds() / speed)

    def job_id(self, trigger: Trigger, firing: int = 1) -> str:
        """The journal job of a trigger's n-th firing (the first keeps the plain id)."""
        return trigger_job(trigger.id, firing)

    def _journaled(self, job_id: str) -> bool:
        js = self.journal.state.jobs.get(job_id)
        return js is not None and (
            js.state != "pending" or bool(js.acked_reqs or js.open_intents or js.unknown_reqs)
        )

    def start(self) -> None:
        for t in self.plan.triggers:
            n = 0
            while self._journaled(self.job_id(t, n + 1)):
                n += 1
            self.fired[t.id] = n
            js = self.journal.state.jobs.get(self.job_id(t, max(n, 1)))
            final = js is not None and js.state in FINAL
            if final and not t.repeat:
                continue
            if n and final:
                # Fired before a restart: that crossing is spent; the next one needs the
                # condition to be seen false first.
                self._was_true.add(t.id)
            self.armed.append(t)
            rec = self.journal.state.trails.get(t.id)
            if rec is not None:  # a restart: the level resumes where it was
                self.trail[t.id] = (int(rec["best"]), int(rec["level"]))
        self.groups = list(self.plan.oco)
        if not self.armed and not self.groups:
            self._done.set()
            return
        self._thread = threading.Thread(target=self._loop, name="triggers", daemon=True)
        self._thread.start()

    def end(self, why: dict[str, tuple[SkipCode, str]]) -> None:
        """Nothing more can happen (the runner's finding): at its next turn the watcher
        retires every trigger still armed, each with its reason in `why`, ends its
        one-cancels-other groups, and stops."""
        self._ending = dict(why)

    def _end_now(self) -> None:
        assert self._ending is not None
        for t in self.armed:
            code, reason = self._ending.get(t.id, (SkipCode.ORDER_GONE, "nothing left to act on"))
            self._retire(t, code, reason)
        self.armed = []
        for g in list(self.groups):
            self._end_group(g, "both legs are closed")

    def spent(self, t: Trigger) -> bool:
        """Whether the trigger's condition was last seen true (its crossing spent)."""
        return t.id in self._was_true

    def finished(self) -> bool:
        return self._done.is_set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        last_warning = ""
        # Fixed rate: a poll every poll_real from the first, whatever a tick costs (waiting
        # poll_real after each tick stretched the period, and the reaction, by the tick).
        next_at = time.monotonic()
        try:
            while not self.stop.is_set() and (self.armed or self.groups):
                if self._ending is not None:
                    self._end_now()
                    break
                try:
                    self._tick()
                except BrokerError as e:
                    # A failed read (after the client's own retries) costs one poll, not
                    # the watch: say so once per distinct failure and keep watching.
                    if str(e) != last_warning:
                        last_warning = str(e)
                        self.emit(
                            Event(
                                kind=WARNING,
                                at=self.clock.now(),
                                message=f"trigger poll failed, still watching: {e}",
                            )
                        )
                next_at += self.poll_real
                now = time.monotonic()
                if next_at < now:  # the tick overran its interval: poll now, never in bursts
                    next_at = now
                self._wait_until(next_at)
        except JournalWriteError as e:
            # Not a bug: the journal refused a record. The runner stops the run (exit 2).
            self.emit(Event(kind=WARNING, at=self.clock.now(), message=f"triggers stopped: {e}"))
            self.stop.set()
        except Exception as e:
            self.failure = f"trigger watcher stopped: {type(e).__name__}: {e}"
            self.traceback = "".join(traceback.format_exception(e))
            self.emit(Event(kind=WARNING, at=self.clock.now(), message=self.failure))
        finally:
            self._done.set()

    def _wait_until(self, until: float) -> None:
        """Until the next full tick: with the live feed, evaluate pushed prices as they
        come, and notice within 50 ms a feed that comes up (or back) meanwhile."""
        while not self.stop.is_set() and not self._ending:
            left = until - time.monotonic()
            if left <= 0:
                return
            if isinstance(self.prices, PushPrices) and self.armed:
                self._wait_pushes(until)
                if not self.prices.up:
                    self.stop.wait(min(max(0.0, until - time.monotonic()), 0.05))
            else:
                self.stop.wait(left)

    def _wait_pushes(self, until: float) -> None:
        """While the live feed is up, evaluate each pushed price as it arrives until the
        next full tick (which reads the orders conditions name and checks the windows)."""
        if not isinstance(self.prices, PushPrices):
            return
        while not self.stop.is_set() and self.armed and self.prices.up and not self._ending:
            if time.monotonic() >= self._warm_at:
                # A push can fire a trigger any moment: keep an order connection open
                # (TCP and TLS done), or its first request pays the handshakes.
                self._warm_at = time.monotonic() + WARM_EVERY
                self.ex.client.prewarm()
            left = until - time.monotonic()
            if left <= 0:
                return
            changed = self.prices.wait_change(min(left, 0.5))
            if changed:
                self._on_prices(changed)

    def _on_prices(self, changed: set[str]) -> None:
        """Triggers decided on prices alone whose symbols just moved: evaluated now."""
        now = self.clock.now()
        for t in self.armed:
            if t.id in self._retired or orders_of(t.when):
                continue
            symbols = symbols_of(t.when)
            start, end = window(t, self.plan.day)
            if not symbols & changed or not start <= now < end:
                continue
            prices = self._prices(symbols)
            if holds(t.when, prices, {}):
                if t.id not in self._was_true:
                    self._was_true.add(t.id)
                    self._fire(t, prices)
            else:
                self._was_true.discard(t.id)
        self.armed = [t for t in self.armed if t.id not in self._retired]
        self.evaluations += 1

    def _tick(self) -> None:
        now = self.clock.now()
        live: list[Trigger] = []
        closed = self.closed_orders()
        for t in self.armed:
            start, end = window(t, self.plan.day)
            target = self._target(t)
            if now >= end:
                self._retire(
                    t, SkipCode.WINDOW_ENDED, f"window ended at {end:%H:%M}, condition never held"
                )
            elif target in closed:
                # Retired at once, not at its next read, nor when its window opens or ends.
                self._retire(
                    t,
                    SkipCode.ORDER_GONE,
                    f"its order {target} is {closed[target]}: the action is impossible",
                )
            elif now >= start:
                live.append(t)
        self.armed = [t for t in self.armed if t.id not in self._retired]
        if self.groups:
            self._oco(now)
        if not live:
            return
        held: set[str] = set()  # decided on prices alone and holding, this tick
        watching: dict[str, list[Trigger]] = {}  # symbol -> the triggers it moves
        for t in live:
            for symbol in symbols_of(t.when):
                watching.setdefault(symbol, []).append(t)
        prices = self._prices(
            set(watching),
            lambda symbol, known: self._arrived(watching[symbol], symbol, known, held),
        )
        # Orders a condition names are read every poll; an action's own target only every
        # few polls (to notice an action that became impossible): the executor checks it
        # again anyway before sending, and every read costs the broker's rate limit.
        self._ticks += 1
        watch_targets = self._ticks % TARGET_CHECK_EVERY == 1
        live = [t for t in live if t.id not in held]
        fills: dict[str, OrderStatus] = {}
        for t in live:
            needed = orders_of(t.when) | ({self._target(t)} - {""} if watch_targets else set())
            for order in needed:
                if order not in fills and self.journal.state.lineage.get(order):
                    fills[order] = self.ex.status(order)
        for t in live:
            target = self._target(t)
            st = fills.get(target)
            if target and st is not None and not st.is_open and not isinstance(t.action, Place):
                st = self.ex.settled_status(target)
                if st is None or st.is_open or st.doubt:
                    # In flight, or in doubt (reported at the end): never retired as gone.
                    continue
                why = "filled" if st.filled else "not open"
                self._retire(
                    t, SkipCode.ORDER_GONE, f"its order {target} is {why}: the action is impossible"
                )
                continue
            if self._holds(t, prices, fills):
                if t.id not in self._was_true:
                    self._was_true.add(t.id)
                    self._fire(t, prices)
            else:
                self._was_true.discard(t.id)
        self.armed = [t for t in self.armed if t.id not in self._retired]

    def _prices(
        self,
        symbols: set[str],
        arrived: Callable[[str, dict[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """The symbols' prices: polled, or with the feed up the pushed ones (a symbol not
        pushed yet is polled only while the rate limiter has a slot free at once, so a
        plan watching 200 symbols never stalls its pushed triggers behind 200 reads).
        `arrived(symbol, prices so far)` is called as each price comes in: a sweep of
        polls under the rate limits takes seconds, and a crossing its first read saw is
        acted on then, not after the rest of the sweep. A stop ends the sweep early."""
        out: dict[str, int] = {}
        for symbol in sorted(symbols):
            if self.stop.is_set():
                break
            if isinstance(self.prices, PushPrices):
                got = self.prices.known([symbol])
            else:
                got = {symbol: self.prices.price(symbol)}
            if symbol in got:
                out[symbol] = got[symbol]
                if arrived is not None:
                    arrived(symbol, out)
        return out

    def _arrived(
        self, watching: list[Trigger], symbol: str, prices: dict[str, int], held: set[str]
    ) -> None:
        """A poll's price for `symbol` came in (`watching`: the triggers on it): those
        decided on prices alone whose symbols are all read now are decided, and one that
        holds fires at once, before any order read (the executor reads the order first
        and reports a filled or cancelled one as skipped). A trailing trigger's level
        follows the price first."""
        for t in watching:
            if isinstance(t.when, TrailingCond):
                self._hit[t.id] = self._trail(t, t.when, prices[symbol])
        for t in watching:
            symbols = symbols_of(t.when)
            if t.id in held or t.id in self._retired or orders_of(t.when):
                continue
            if not symbols <= prices.keys():
                continue
            mine = {s: prices[s] for s in sorted(symbols)}
            if self._holds(t, mine, {}):
                held.add(t.id)
                if t.id not in self._was_true:
                    self._was_true.add(t.id)
                    self._fire(t, mine)

    def _holds(self, t: Trigger, prices: dict[str, int], fills: dict[str, OrderStatus]) -> bool:
        if isinstance(t.when, TrailingCond):
            return self._hit.get(t.id, False)
        return holds(t.when, prices, fills)

    def _trail(self, t: Trigger, c: TrailingCond, price: int) -> bool:
        """Follow the best price since the trigger armed; whether `price` is at the level.

        The level is the best price moved by the distance, on the tick grid the trader's
        way (a sell stop's rounds up, a buy stop's down: it fires no later than stated).
        Each move of the level is journaled (one record per new level, so at most one per
        tick the best price moves: the day's price limits bound them), and a restart
        resumes from the last one."""
        sell = c.side == "below_high"
        known = self.trail.get(t.id)
        if known is None or (price > known[0] if sell else price < known[0]):
            best = price
            sign = -1 if sell else 1
            level = ticks.offset_price(
                Fraction(best),
                percent=None if c.by.percent is None else sign * c.by.percent,
                ticks=None if c.by.ticks is None else sign * c.by.ticks,
                up=sell,
                kind=instruments.kind_of(c.symbol),
            )
            if known is None or level != known[1]:
                self.journal.append(
                    {
                        "type": "trail",
                        "job": self.job_id(t),
                        "trigger": t.id,
                        "best": best,
                        "level": level,
                        "at": self.clock.now().isoformat(timespec="milliseconds"),
                    }
                )
                way = "high" if sell else "low"
                self.emit(
                    Event(
                        kind=INFO,
                        at=self.clock.now(),
                        job=self.job_id(t),
                        message=f"trigger {t.id}: level {level:,} ({way} {best:,})",
                        data={"best": best, "level": level},
                    )
                )
            self.trail[t.id] = (best, level)
        level = self.trail[t.id][1]
        return price <= level if sell else price >= level

    # ---- one-cancels-other ----------------------------------------------------------------

    def _oco(self, now: dt.datetime) -> None:
        """Each group: a fill on one leg brings the other down to what is left (a modify
        of its total size to its size less that fill; a cancel of all once nothing is
        left). Each resize is its own journal job, `oco:GROUP:LEG@FILLED` (the other
        leg's fills that decided it), so none is ever sent twice; the executor reads
        the leg before it cancels anything. A group ends when both legs are closed, or
        at the end of the regular session."""
        end = window_end(self.plan.day)
        for g in list(self.groups):
            a, z = g.legs
            if now >= end:
                self._end_group(g, "the regular session ended")
                continue
            if not (self.journal.state.lineage.get(a) and self.journal.state.lineage.get(z)):
                continue  # a leg is not placed yet
            st = {leg: self.ex.status(leg) for leg in g.legs}
            if any(x.doubt for x in st.values()):
                continue  # reported by the executor or at the end; nothing is sent
            for leg, other in ((a, z), (z, a)):
                if st[other].filled > 0 and st[leg].is_open:
                    self._resize(g, leg, other, st[other].filled)
            if not any(x.is_open for x in st.values()):
                settled = [self.ex.settled_status(leg) for leg in g.legs]
                if all(x is not None and not x.is_open for x in settled):
                    self._end_group(g, "both legs are closed")

    def _size(self, leg: str) -> int:
        """The leg's size as placed (the journal's ack of its placement), else the plan's."""
        for rec in self.journal.state.records:
            if rec.get("type") == "ack" and rec.get("order") == leg and rec.get("kind") == "place":
                qty = rec.get("qty")
                if isinstance(qty, int) and qty > 0:
                    return qty
        return self.ex.orders[leg].qty or 0

    def _resize(self, g: OcoGroup, leg: str, other: str, filled: int) -> None:
        job_id = f"oco:{g.id}:{leg}@{filled}"
        js = self.journal.state.jobs.get(job_id)
        if js is not None and js.state in FINAL:
            return
        size = self._size(leg)
        left = size - filled
        action: Modify | Cancel = Modify(order=leg, qty=left) if left > 0 else Cancel(order=leg)
        what = f"down to {left}" if left > 0 else "cancelled"
        self.emit(
            Event(
                kind=TRIGGERED,
                at=self.clock.now(),
                job=job_id,
                order=leg,
                message=f"oco {g.id}: {other} filled {filled}, {leg} {what}",
            )
        )
        try:
            state = str(self.ex.execute(job_id, action))
        except InDoubt as e:
            state = self._in_doubt(job_id, leg, action, e)
        self.states[job_id] = state

    def settled(self, job_id: str, state: str) -> None:
        """A firing left in doubt was settled later in the run (the runner read the
        broker again): its state, and its trigger's line in the summary, say how."""
        if job_id in self.states:
            self.states[job_id] = state
        for t in self.plan.triggers:
            if job_id == self.job_id(t, self.fired.get(t.id, 1)) and t.id in self.reaction:
                self.reaction[t.id]["state"] = state

    def _in_doubt(self, job_id: str, order: str, action: Action, e: InDoubt) -> str:
        """A firing's request left without an answer: settled now, as a step's is (its
        cancel found done, a `market` still sends its order once), or left unknown."""
        if self.settle is None:
            return f"unknown ({e})"
        return self.settle(job_id, order, action)

    def _end_group(self, g: OcoGroup, why: str) -> None:
        self.groups = [x for x in self.groups if x.id != g.id]
        self.emit(Event(kind=INFO, at=self.clock.now(), message=f"oco {g.id} ends: {why}"))

    def _target(self, t: Trigger) -> str:
        return "" if isinstance(t.action, Place) else action_order(t.action)

    def _retire(self, t: Trigger, code: SkipCode, reason: str) -> None:
        self._retired.add(t.id)
        n = self.fired.get(t.id, 0)
        if n:
            # A repeat trigger that fired: its firings keep their outcomes in the journal.
            if code is SkipCode.WINDOW_ENDED:
                reason = reason.split(",")[0]
            text = f"trigger {t.id} stops watching after {n} firing(s): {reason}"
            self.emit(Event(kind=INFO, at=self.clock.now(), job=self.job_id(t, n), message=text))
            return
        self.journal.append(
            {"type": "skipped", "job": self.job_id(t), "code": code, "reason": reason}
        )
        self.emit(
            Event(
                kind=SKIPPED,
                at=self.clock.now(),
                job=self.job_id(t),
                message=f"trigger {t.id} skipped ({reason})",
            )
        )

    def _fire(self, t: Trigger, prices: dict[str, int]) -> None:
        seen = self.clock.now()
        n = self.fired.get(t.id, 0)
        last = self.journal.state.jobs.get(self.job_id(t, n)) if n else None
        if last is None or last.state in FINAL:
            n += 1  # a new firing; an unfinished one (a restart) is finished instead
        self.fired[t.id] = n
        job_id = self.job_id(t, n)
        shown = ", ".join(f"{s} {p:,}" for s, p in prices.items())
        self.emit(
            Event(
                kind=TRIGGERED,
                at=seen,
                job=job_id,
                message=f"trigger {t.id} fired" + (f" ({shown})" if shown else ""),
            )
        )
        self.reaction.setdefault(t.id, {"seen": seen.isoformat(timespec="milliseconds")})
        try:
            state = str(self.ex.execute(job_id, t.action))
        except InDoubt as e:
            state = self._in_doubt(job_id, action_order(t.action), t.action, e)
        self.reaction[t.id]["state"] = state
        self.states[job_id] = state
        if not t.repeat:
            self._retired.add(t.id)
