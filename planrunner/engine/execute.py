"""Carry out one action against the broker: journal first, lineage resolved at fire time.

Every order POST goes through `Executor._send`: an `intent` line is fsynced before the
call, the outcome after it. A request the journal already shows as acked is not sent
again (a restart resumes a half-done `market` at its second request). Broker state
(open, remaining, filled) is read before each modify/cancel: the pre-send checklists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any, assert_never

from planrunner.clock import Clock
from planrunner.engine.attention import late_text
from planrunner.engine.checks import BrokerChecks, Doubt, OrderStatus, Refused, Skip, lineage_rows
from planrunner.engine.events import (
    ACKED,
    FAILED,
    REJECTED,
    SENT,
    SKIPPED,
    UNKNOWN,
    WARNING,
    Emit,
)
from planrunner.engine.journal import Journal, Record
from planrunner.engine.outcome import DONE, Kind, Outcome, SkipCode
from planrunner.engine.prices import PriceLog
from planrunner.engine.salvo import Salvo
from planrunner.kiwoom import wire
from planrunner.kiwoom.channel import Prepared
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.exceptions import AlreadyFilled, KiwoomError, Rejected, UnknownOutcome
from planrunner.kiwoom.ratelimit import deciding
from planrunner.kiwoom.types import OpenOrder, ord_key, same_ord_no
from planrunner.krx import instruments, ticks
from planrunner.model import (
    PRICED_TYPES,
    TRIGGER_JOB,
    Action,
    Cancel,
    CompiledPlan,
    Market,
    Modify,
    Offset,
    OrderSpec,
    Place,
    Replace,
    WireRequest,
    action_name,
    action_order,
)

SPIN_SECONDS = 0.002  # the last stretch before an order's instant is waited actively


def _sleep_until(target: float) -> None:
    # Sleep to just before the instant, then yield until it: a thread woken from a long
    # sleep can be a millisecond or more late, one that keeps asking is not.
    delay = target - time.time() - SPIN_SECONDS
    if delay > 0:
        time.sleep(delay)
    while time.time() < target:
        time.sleep(0)


def wait_for_instant(clock: Clock, when: dt.datetime) -> None:
    """Return at `when` on `clock`. A rehearsal's clock held at an earlier instant stands
    still meanwhile, so `when` comes later than first said: ask again until it stays."""
    target = clock.real_of(when).timestamp()
    while True:
        _sleep_until(target)
        later = clock.real_of(when).timestamp()
        if later <= target:
            return
        target = later


# Set only by the test entry point (tests/support/entry.py), never from the environment:
# called with (job id, request number, "after-intent" | "after-post").
CRASH_POINT: Callable[[str, int, str], None] | None = None


class InDoubt(Exception):
    """A request's outcome is unknown: nothing more is sent for this job until reconciled."""


class Executor(BrokerChecks):
    def __init__(
        self,
        *,
        plan: CompiledPlan,
        client: KiwoomClient,
        journal: Journal,
        clock: Clock,
        emit: Emit,
        enforce_session: bool = True,
        warn: Callable[[str], None] | None = None,
    ):
        self.plan = plan
        self.client = client
        self.journal = journal
        self.clock = clock
        self.emit = emit
        self.enforce_session = enforce_session
        self.warn = warn or (lambda _m: None)
        self.standing = None
        self.orders: dict[str, OrderSpec] = dict(plan.orders)
        # The total size each order aims at now (a replace or a qty modify changes it).
        self.targets: dict[str, int] = {o.id: o.qty for o in plan.orders.values() if o.qty}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._day_limits: dict[str, tuple[int, int]] = {}
        self._not_before: dict[str, dt.datetime] = {}
        # How late past its instant (or its start, when it started later) a job's first
        # request may still leave: the runner's misfire grace (None: no bound). Its
        # checks read the broker first; answers slower than that make it late.
        self.grace: dt.timedelta | None = None
        self._deadlines: dict[str, dt.datetime] = {}
        self._held: dict[str, dt.datetime] = {}  # job -> the instant it holds the clock at
        self._held_guard = threading.Lock()
        # Jobs sharing an instant send as one salvo (salvo.py).
        self._sharing = Counter(job.at for job in plan.jobs)
        self._salvos: dict[dt.datetime, Salvo] = {}
        self._salvos_guard = threading.Lock()
        self._filled: dict[str, int] = {
            o: int(r.get("filled") or 0) for o, r in journal.state.fills.items()
        }
        # The value filled (quantity x the broker's fill price) when `_filled` was noted:
        # a read's new fills are priced by the difference (checks._note_fills).
        self._filled_value: dict[str, int] = {
            o: int(r.get("value") or 0) for o, r in journal.state.fills.items()
        }
        # For when a fill happened (checks._fill_time): each number's filled quantity as
        # last noted, and when the order's fills were last read (a resumed run: its last
        # journaled fill; a fill not shown then happened after it).
        self._number_filled: dict[str, dict[str, int]] = {
            o: {str(k): int(q) for k, q in (r.get("numbers") or {}).items()}
            for o, r in journal.state.fills.items()
        }
        self._looked: dict[str, dt.datetime] = {}
        for o, r in journal.state.fills.items():
            with contextlib.suppress(KeyError, ValueError):  # a hand-edited `at`: no bound
                at = dt.datetime.fromisoformat(str(r["at"]))
                if at.tzinfo is not None:
                    self._looked[o] = at
        # Every market price the run reads goes through here into the journal (bounded).
        self.prices = PriceLog(journal, clock)
        self._pushed: dict[str, dict[str, tuple[int, int]]] = {}
        self._fill_events: set[tuple[str, int, int, int]] = set()  # each pushed fill once
        self._early: dict[str, list[Any]] = {}  # ord_no -> pushed fills before its ack

    # ---- entry point ------------------------------------------------------------------

    def lock_for(self, order: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(order, threading.Lock())

    def settled_status(
        self, order: str, opens: list[OpenOrder] | None = None
    ) -> OrderStatus | None:
        """The order's state with no action on it in flight, or None if one is. Read
        during a modify, the order's old number is already closed at the broker while the
        new one is not yet in the journal: that read would say "not open"."""
        lock = self.lock_for(order)
        if not lock.acquire(blocking=False):
            return None
        try:
            return self.status(order, opens=opens)
        finally:
            lock.release()

    def closed_skip(self, order: str) -> tuple[SkipCode, str] | None:
        """Why any step on `order` would be skipped now because the broker shows it closed
        (read now, with nothing in flight on it): the code and reason its step would get.
        None while it is open, in doubt, or an action on it is in flight."""
        lock = self.lock_for(order)
        if not lock.acquire(blocking=False):
            return None
        try:
            self._open_status(order, fills=True)
        except Skip as s:
            return s.code, str(s)
        except Doubt:
            return None
        finally:
            lock.release()
        return None

    def hold(self, job_id: str, at: dt.datetime) -> None:
        """A rehearsal's clock does not pass `at` until this job's request leaves (or the
        job ends without one: `release`). The real clock ignores it."""
        with self._held_guard:
            if job_id not in self._held:
                self._held[job_id] = self.clock.hold(at)

    def release(self, job_id: str) -> None:
        """Let time pass the job's instant (once; later calls do nothing)."""
        with self._held_guard:
            held = self._held.pop(job_id, None)
        if held is not None:
            self.clock.release(held)

    def release_all(self) -> None:
        """The run is ending: nothing may wait for a job that will not send."""
        with self._held_guard:
            jobs = list(self._held)
        for job_id in jobs:
            self.release(job_id)

    def execute(
        self, job_id: str, action: Action, *, not_before: dt.datetime | None = None
    ) -> Outcome:
        """Run one action; returns how the job ended. Raises InDoubt, BrokerError.

        With `not_before`, the checks (broker state reads) run now and the order request
        itself waits for that instant: the runner starts a job a moment early so that
        what is sent at the plan's time is the request alone."""
        order = action_order(action)
        if not_before is not None:
            self.client.prewarm()  # its connection opens while the checks run
        with self.lock_for(order), deciding():  # its reads go before trigger polls
            if not_before is not None:
                self._not_before[job_id] = not_before
                if self.grace is not None:
                    self._deadlines[job_id] = max(not_before, self.clock.now()) + self.grace
            try:
                match action:
                    case Place():
                        spec, extra = action.spec, dict[str, Any]()
                        if spec.from_fill is not None:
                            spec, extra = self._from_fill(spec)
                            self.orders[spec.id] = spec
                        self.orders.setdefault(spec.id, spec)
                        if spec.qty:
                            self.targets.setdefault(spec.id, spec.qty)
                        self._place(job_id, 0, spec, extra=extra)
                    case Modify():
                        self._modify(job_id, action)
                    case Cancel():
                        self._cancel(job_id, action)
                    case Market():
                        self._market(job_id, action)
                    case Replace():
                        self._replace(job_id, action)
                    case _:
                        assert_never(action)
            except Doubt as d:
                # The broker's lists and the arithmetic disagree: nothing is sent, loudly.
                self.journal.append(
                    {
                        "type": "failed",
                        "job": job_id,
                        "state": "in doubt",
                        "attention": "in-doubt",
                        "reason": str(d),
                    }
                )
                doubt = self._event(
                    WARNING, f"in doubt ({d})", job_id, order, outcome=Kind.IN_DOUBT
                )
                self.emit(doubt)
                return Outcome(kind=Kind.IN_DOUBT, reason=str(d))
            except Skip as s:
                return self._skipped(job_id, order, s.code, str(s))
            except Refused as r:
                self.journal.append({"type": "failed", "job": job_id, "reason": str(r)})
                self.emit(self._event(FAILED, f"failed ({r})", job_id, order))
                return Outcome(kind=Kind.FAILED, reason=str(r))
            except AlreadyFilled as e:
                # It filled between our read and the broker's answer: the known race,
                # not a failure. Nothing was executed; the step has nothing left to act on.
                reason = f"filled: the broker refused the {action_name(action)} ({e.code})"
                return self._skipped(job_id, order, SkipCode.FILLED, reason)
            except Rejected as e:
                self.journal.append(
                    {
                        "type": "failed",
                        "job": job_id,
                        "state": "rejected",
                        "attention": "rejected",
                        "reason": str(e),
                    }
                )
                return Outcome(kind=Kind.REJECTED, reason=str(e))
            finally:
                self._not_before.pop(job_id, None)
                self._deadlines.pop(job_id, None)
        self.journal.append({"type": "done", "job": job_id})
        return DONE

    def _skipped(self, job_id: str, order: str, code: SkipCode, reason: str) -> Outcome:
        self.journal.append({"type": "skipped", "job": job_id, "code": code, "reason": reason})
        self.emit(self._event(SKIPPED, f"skipped ({reason})", job_id, order))
        return Outcome(kind=Kind.SKIPPED, reason=reason, code=code)

    # ---- actions ----------------------------------------------------------------------

    def _place(
        self,
        job_id: str,
        req: int,
        spec: OrderSpec,
        qty: int | None = None,
        kind: str = "place",
        *,
        checked: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Record:
        """`checked`: the second leg of a market/replace whose checks ran before its
        cancel (`_second_leg_checks`), for at least this quantity."""
        if self._acked(job_id, req):
            return self.journal.state.job(job_id).acked_reqs[req]
        n = spec.qty if qty is None else qty
        assert n is not None
        if not checked:
            self._check_session(spec.order_type, spec.exchange, job_id)
            self._check_single_price_band(spec, spec.price)
            self._check_value(spec, n, spec.price)
        request = wire.place_request(
            symbol=spec.symbol,
            side=spec.side,
            qty=n,
            price=spec.price,
            order_type=spec.order_type,
            exchange=spec.exchange,
            stop_price=spec.stop_price,
        )
        return self._send(
            job_id,
            req,
            spec.id,
            kind,
            request,
            evidence=lambda: self.twins(spec, request, fired=job_id.startswith(TRIGGER_JOB)),
            qty=n,
            **(extra or {}),
        )

    def _from_fill(self, spec: OrderSpec) -> tuple[OrderSpec, dict[str, Any]]:
        """The order sized and priced from its source's fill: qty = what the source
        filled, prices = its average fill price moved by the offsets, on the tick grid
        rounded the trader's way (a sell up, a buy down). The source is no longer open
        when this runs (the trigger waits for `filled`), so its fills are final: a
        restart works out the same order."""
        ff = spec.from_fill
        assert ff is not None
        st = self.status(ff.order)
        if st.doubt:
            raise Doubt(st.doubt)
        if st.is_open:
            raise Refused(f"{ff.order} is still open: its fill is not final")
        if st.filled <= 0:
            raise Skip(SkipCode.NOTHING_FILLED, f"{ff.order} filled nothing")
        if st.fill_value <= 0 and (ff.price is not None or ff.stop_price is not None):
            raise Refused(f"the broker did not tell {ff.order}'s fill price: {spec.id} not placed")
        avg = Fraction(st.fill_value, st.filled)
        up = spec.side == "sell"
        kind = instruments.order_kind(spec)

        def moved(offset: Offset | None, written: int | None) -> int | None:
            if offset is None:
                return written
            return ticks.offset_price(
                avg, percent=offset.percent, ticks=offset.ticks, up=up, kind=kind
            )

        resolved = replace(
            spec,
            qty=st.filled,
            price=moved(ff.price, spec.price),
            stop_price=moved(ff.stop_price, spec.stop_price),
        )
        basis = {"order": ff.order, "filled": st.filled, "value": st.fill_value}
        return resolved, {"from_fill": basis}

    def _acked(self, job_id: str, req: int) -> bool:
        """Whether a restart finds this request already done (it is never sent again)."""
        return req in self.journal.state.job(job_id).acked_reqs

    def _modify(self, job_id: str, a: Modify) -> None:
        """`qty` is the order's new total size (fills count toward it): the excess of what
        remains is cancelled (kt10003). A price change is kt10002 on all that remains."""
        reprice = a.price is not None or a.ticks is not None
        if self._acked(job_id, 1 if reprice else 0):
            return
        spec = self.orders[a.order]
        st = self._open_status(a.order, fills=a.qty is not None)
        if a.qty is not None and not self._acked(job_id, 0):
            self.targets[a.order] = a.qty
            keep = max(a.qty - st.filled, 0)
            if keep >= st.remaining and not reprice:
                raise Skip(
                    SkipCode.UNCHANGED,
                    f"{st.filled} filled + {st.remaining} open is already within {a.qty}",
                )
            if keep < st.remaining:
                self._cancel_qty(job_id, 0, spec, st, 0 if keep == 0 else st.remaining - keep)
                if keep == 0:
                    return
                st = self._open_status(a.order, fills=False)
        if not reprice:
            return
        price = a.price
        if price is None:
            if st.price is None:
                raise Skip(
                    SkipCode.PRICE_UNKNOWN,
                    "the broker did not tell the order's price; a relative step needs it",
                )
            price = ticks.step(st.price, a.ticks or 0, instruments.order_kind(spec))
        if a.limit is not None and (price > a.limit if spec.side == "buy" else price < a.limit):
            way = "above" if spec.side == "buy" else "below"
            raise Skip(
                SkipCode.LADDER_LIMIT,
                f"ladder limit reached: {price:,} would be {way} its limit {a.limit:,}",
            )
        self._check_price(spec, price)
        self._check_session(spec.order_type, spec.exchange, job_id)
        self._check_value(spec, st.remaining, price)
        if st.price == price:
            raise Skip(SkipCode.UNCHANGED, f"already at {price:,}")
        assert st.ord_no is not None
        ord_no = st.ord_no
        self._send(
            job_id,
            1,
            a.order,
            "modify",
            wire.modify_request(
                orig_ord_no=ord_no, symbol=spec.symbol, price=price, exchange=spec.exchange
            ),
            price=price,
            # what it had open when the modify was decided: a reconcile checks the new
            # number's quantity against it
            remaining=st.remaining,
        )

    def _cancel(self, job_id: str, a: Cancel) -> None:
        if self._acked(job_id, 0):
            return
        spec = self.orders[a.order]
        self._check_session(spec.order_type, spec.exchange, job_id)  # none after the close
        st = self._open_status(a.order, fills=False)
        qty = 0 if a.qty is None or a.qty >= st.remaining else a.qty
        self._cancel_qty(job_id, 0, spec, st, qty)

    def _cancel_qty(
        self, job_id: str, req: int, spec: OrderSpec, st: OrderStatus, qty: int, **extra: Any
    ) -> Record:
        assert st.ord_no is not None
        ord_no = st.ord_no
        return self._send(
            job_id,
            req,
            spec.id,
            "cancel",
            wire.cancel_request(
                orig_ord_no=ord_no, symbol=spec.symbol, qty=qty, exchange=spec.exchange
            ),
            partial=0 < qty < st.remaining,
            asked=qty,  # 0: all that remains
            target=ord_no,
            # What the target had when the cancel was decided: lets a restart tell from
            # the broker's lists whether this cancel took effect (reconcile.py).
            remaining=st.remaining,
            target_filled=st.row_filled,
            **extra,
        )

    def _confirmed_cancel(
        self, job_id: str, order: str, st: OrderStatus | None = None, **extra: Any
    ) -> int:
        """Cancel all that remains; the quantity it took (0 if it filled), from the
        broker's lists after the cancel: what was open when it was sent less what
        filled since. The answer's cncl_qty alone is not trusted (a broker may answer
        zeros for a cancel of all); when it is given and the lists disagree, or the
        lists still show the order open, the order is in doubt.
        `st`: the order as just read (a not-open one is not cancelled)."""
        done = self.journal.state.job(job_id).acked_reqs.get(0)
        if done is None:
            spec = self.orders[order]
            if st is None:
                try:
                    # The open row is all a cancel needs (number, remainder).
                    st = self._open_status(order, fills=False)
                except Skip:
                    return 0
            elif not st.is_open:
                return 0
            try:
                done = self._cancel_qty(job_id, 0, spec, st, 0, **extra)
            except Rejected as e:
                if e.reason in ("already-filled", "no-such-order"):
                    return 0
                raise
        return self._cancelled_by(order, done)

    def _cancelled_by(self, order: str, ack: Record) -> int:
        answered = int(ack.get("qty") or 0)
        before = ack.get("remaining")
        target = ack.get("target")
        if not isinstance(before, int) or not target:
            return answered  # a journal from before these fields: the answer is all we have
        spec = self.orders[order]
        numbers = {ord_key(target)}
        opens = [
            o
            for o in lineage_rows(self.client.open_orders(symbol=spec.symbol), numbers)
            if o.open_qty
        ]
        if opens:
            listed = ", ".join(f"{o.ord_no} ({o.open_qty} open)" for o in opens)
            raise Doubt(f"the cancel of {target} was confirmed but the broker lists {listed}")
        filled_now = max(
            (
                f.filled_qty
                for f in self.client.fills(symbol=spec.symbol)
                if same_ord_no(f.ord_no, target)
            ),
            default=0,
        )
        since = filled_now - int(ack.get("target_filled") or 0)
        if since < 0:
            raise Doubt(f"{target} shows fewer fills than when the cancel was sent")
        took = before - since
        if took < 0 or (answered and answered != took):
            raise Doubt(
                f"the cancel of {target} answered {answered} cancelled; the broker's lists "
                f"say {before} were open and {since} filled since"
            )
        return took

    def _second_leg_checks(self, job_id: str, new: OrderSpec, qty: int, kind: str) -> None:
        """Everything that could refuse the order a `market` or `replace` sends after its
        cancel, checked before the cancel: the session takes the type at the instant, a
        price is on the grid and inside the day's limits, a stop_limit has its stop, and
        the value (a market buy at the upper limit) stays under max_order_value. A refusal
        cancels nothing: the order stays as it is and the step needs attention."""
        try:
            self._check_session(new.order_type, new.exchange, job_id)
            if new.order_type in PRICED_TYPES:
                if new.price is None:
                    raise Skip(
                        SkipCode.PRICE_UNKNOWN,
                        f"the order's price is unknown; a {new.order_type} order needs one",
                    )
                self._check_price(new, new.price)
                self._check_single_price_band(new, new.price)
            if new.order_type == "stop_limit" and new.stop_price is None:
                raise Skip(SkipCode.PRICE, "a stop_limit order needs a stop price")
            self._check_value(new, qty, new.price)
        except Skip as s:
            raise Refused(f"{kind} not sent, nothing cancelled: {s}") from None

    def _second_leg(
        self, job_id: str, new: OrderSpec, qty: int, kind: str, *, checked: bool
    ) -> None:
        try:
            self._place(job_id, 1, new, qty=qty, kind=kind, checked=checked)
        except Skip as s:
            # Only on a resumed step (its cancel went out in an earlier attempt): the
            # checks of the first attempt are not this one's.
            raise Refused(f"{s}; the remainder was cancelled and nothing replaced it") from None

    def _market(self, job_id: str, a: Market) -> None:
        if self._acked(job_id, 1):
            return
        spec = self.orders[a.order]
        market = replace(spec, qty=None, price=None, order_type="market", stop_price=None)
        st: OrderStatus | None = None
        first = not self.journal.state.job(job_id).acked_reqs
        if first:
            try:
                st = self._open_status(a.order, fills=False)
            except Skip:
                raise Skip(
                    SkipCode.FILLED, "filled before the cancel: nothing left to send at market"
                ) from None
            # At most what remains now is sent at market: check that before cancelling.
            self._second_leg_checks(job_id, market, st.remaining, "market")
        qty = self._confirmed_cancel(job_id, a.order, st)
        if qty <= 0:
            raise Skip(SkipCode.FILLED, "filled before the cancel: nothing left to send at market")
        self._second_leg(job_id, replace(market, qty=qty), qty, "market", checked=first)

    def _replace(self, job_id: str, a: Replace) -> None:
        """Add to a position. `qty` is the order's new total size: what filled
        before the cancel counts toward it, so a replace never buys more than the plan's
        number (10 filled, replace to 20 → a new order for 10; 20 filled → nothing).
        Without a price, a priced replace keeps the broker's price of the order."""
        if self._acked(job_id, 1):
            return
        spec = self.orders[a.order]
        done = self.journal.state.job(job_id).acked_reqs.get(0)
        price = a.price
        checked = False
        st: OrderStatus | None = None
        if done is None:
            st = self.status(a.order)
            if st.doubt:
                raise Doubt(st.doubt)
            if price is None and a.order_type in PRICED_TYPES:
                price = st.price
        elif price is None and a.order_type in PRICED_TYPES:
            price = done.get("new_price")
        stop = spec.stop_price if a.order_type == "stop_limit" else None
        new = replace(spec, qty=None, price=price, order_type=a.order_type, stop_price=stop)
        if st is not None and a.qty > st.filled:
            # Fills only grow: the new order is at most this large.
            self._second_leg_checks(job_id, new, a.qty - st.filled, "replace")
            checked = True
        self._confirmed_cancel(job_id, a.order, st, new_price=price)
        # The size comes from the broker's lists after the cancel, checked for doubt.
        after = self.status(a.order)
        if after.doubt:
            raise Doubt(after.doubt)
        filled = after.filled
        qty = a.qty - filled
        if qty <= 0:
            raise Skip(
                SkipCode.UNCHANGED, f"{filled} already filled: the new total of {a.qty} is reached"
            )
        if price is None and a.order_type in PRICED_TYPES:
            raise Refused(
                "the order's price is unknown after its cancel; the remainder was cancelled "
                "and nothing replaced it"
            )
        self._second_leg(job_id, replace(new, qty=qty), qty, "replace", checked=checked)
        self.targets[a.order] = a.qty

    # ---- the journal-first send ---------------------------------------------------------

    def _send(
        self,
        job_id: str,
        req: int,
        order: str,
        kind: str,
        request: WireRequest,
        evidence: Callable[[], dict[str, Any]] | None = None,
        **extra: Any,
    ) -> Record:
        """Journal `request`, then send that same object (`client.send`): the body on
        disk is the body on the wire, built once. `evidence`: read from the broker once
        the request is sure to be sent, journaled with its intent (a place's twins)."""
        js = self.journal.state.job(job_id)
        if req in js.acked_reqs:
            return js.acked_reqs[req]
        if req in js.unknown_reqs or req in js.open_intents:
            raise InDoubt(f"{job_id} request {req} has an unknown outcome: reconcile first")
        # One that could not be sent (a placeholder, a zero quantity) is refused before
        # its intent is written: nothing in doubt, nothing sent.
        try:
            wire.check_order(request)
        except ValueError as e:
            raise Refused(f"the {kind} request cannot be sent: {e}") from None
        if evidence is not None:
            extra = {**extra, **evidence()}
        self._check_late(job_id)
        # Journal first: the intent is on disk before the request leaves. When the job
        # started early, the intent is written now and only the POST waits for the instant.
        when = self._not_before.get(job_id)
        planned = max(self.clock.now(), when) if when is not None else self.clock.now()
        self.journal.append(
            {
                "type": "intent",
                "job": job_id,
                "req": req,
                "order": order,
                "kind": kind,
                "api_id": request.api_id,
                "body": request.body,
                "at": planned.isoformat(timespec="milliseconds"),
                **extra,
            },
            sync=True,
        )
        self._crash_point(job_id, req, "after-intent")
        sent = replace(
            self._event(SENT, f"sent {request.api_id} {kind}", job_id, order, request.body),
            at=planned,
        )
        try:
            # A job due at an instant: the client prepares the request, then waits here for
            # the instant and sends. A trigger's action sends at once.
            hook = (lambda p: self._wait_for(job_id, p)) if job_id in self._not_before else None
            ack = self.client.send(request, ready=hook)
            self._crash_point(job_id, req, "after-post")
        except UnknownOutcome as e:
            self.emit(sent)
            self.journal.append(
                {"type": "unknown", "job": job_id, "req": req, "order": order, "error": str(e)},
                sync=True,
            )
            self.emit(self._event(UNKNOWN, f"unknown outcome: {e}", job_id, order))
            raise InDoubt(str(e)) from e
        except KiwoomError as e:
            # Refused, rate limit exhausted, unreachable, auth: each proves the request was
            # not executed, so it is an outcome, not a doubt.
            self.emit(sent)
            self.journal.append(
                {
                    "type": "rejected",
                    "job": job_id,
                    "req": req,
                    "order": order,
                    "code": e.code,
                    "message": e.broker_message,
                },
                sync=True,
            )
            self.emit(self._event(REJECTED, f"not executed: {e}", job_id, order))
            raise
        except BaseException:
            self.emit(sent)
            raise
        self.emit(sent)
        rec = self.journal.append(
            {
                "type": "ack",
                "job": job_id,
                "req": req,
                "order": order,
                "kind": kind,
                "ord_no": ack.ord_no,
                "base_orig_ord_no": getattr(ack, "base_orig_ord_no", None),
                "qty": getattr(ack, "qty", extra.get("qty")),
                "at": self.clock.now().isoformat(timespec="milliseconds"),
                **{k: v for k, v in extra.items() if k != "qty"},
            },
            sync=True,
        )
        orig = request.body.get("orig_ord_no")
        text = f"acked {kind} {orig} → {ack.ord_no}" if orig else f"acked {kind} → {ack.ord_no}"
        self.emit(self._event(ACKED, text, job_id, order, {"ord_no": ack.ord_no, "kind": kind}))
        self.replay_early(ack.ord_no)  # pushed fills that came before this answer
        return rec

    def _check_late(self, job_id: str) -> None:
        """A job whose checks (the broker's answers to its reads, a place's twins) took
        it past its instant and the grace is not sent late, as one that started late is
        not (runner.py): skipped, `late`. Only its first request: one that follows a
        request already sent (a market's order after its cancel) is owed."""
        deadline = self._deadlines.pop(job_id, None)
        now = self.clock.now()
        if deadline is None or now <= deadline or self.journal.state.job(job_id).acked_reqs:
            return
        late = now - self._not_before.get(job_id, now)
        raise Skip(
            SkipCode.LATE,
            f"late by {late_text(late)}: the broker answered its checks' reads only then",
        )

    def _wait_for(self, job_id: str, prepared: Prepared | None) -> None:
        when = self._not_before.get(job_id)
        if when is None:
            return
        try:
            self._at_instant(when, prepared)
        finally:
            self.release(job_id)  # the request leaves now: time may go on past its instant

    def _at_instant(self, when: dt.datetime, prepared: Prepared | None) -> None:
        if prepared is None or self._sharing[when] < 2:
            wait_for_instant(self.clock, when)
            return
        with self._salvos_guard:
            salvo = self._salvos.get(when)
            if salvo is None:
                salvo = self._salvos[when] = Salvo(lambda: wait_for_instant(self.clock, when))
        salvo.join(prepared)

    def _crash_point(self, job_id: str, req: int, where: str) -> None:
        """Where a power cut is simulated by the crash tests (`after-intent`: the intent is
        fsynced, nothing sent; `after-post`: the request left, no answer read). The product
        never sets CRASH_POINT: only the test entry point (tests/support/entry.py) does."""
        if CRASH_POINT is not None:
            CRASH_POINT(job_id, req, where)
