"""Timed actions become APScheduler jobs (the only apscheduler import in planrunner).

One date job per timed action, in Asia/Seoul whatever the machine's zone, with an
explicit misfire grace, `coalesce` and `max_instances=1`. The pool is sized to the jobs
that share an instant (APScheduler's default of 10 threads delays the 11th by a whole
broker call). Lateness is judged on the plan's clock (virtual under --sim): a job later
than `policy.misfire_grace` is not sent; it is reported `skipped (late by 42s)` or stops
the run (`on_late: fail`). EVENT_JOB_MISSED is reported the same way, never silent.

`on_late: place` (with its window): a job whose instant passed while the runner was not
running (before `began`, by more than the plan's misfire grace) is sent as soon as the run
starts if it is at most the window late, else skipped. Its lateness is `began - at`,
a fact about the downtime; what the machine adds after `began` is judged by the grace as
for any job. Such a job is reported (a warning, a `late` journal record before its
intent, its final state) and, like any job, never sent twice: a job the journal has
finished is not scheduled again.

A request left in doubt (no answer, not found at the broker yet) blocks its order's later
jobs. Each of them, and the end of the run, reads the broker again: a place, modify or
cancel found then (reconcile.py says what proves it is ours) is adopted, its job is done
and the order goes on from its number; a restart does the same for one an earlier run
left unknown. A job that still owed a request ends failed, reported (never sent late).

A rehearsal's clock is held at each scheduled job's instant (clock.py) until that job's
request leaves or the job ends, so a job the machine runs late still sends at its instant
on the scenario's prices. A job that must wait for an earlier one on its order lets go
(that wait is the plan's, not the machine's), as do all at the end of the run.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import sys
import threading
import time
import traceback
from dataclasses import replace
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from planrunner.clock import SEOUL, Clock
from planrunner.engine.adopt import check_adoptions
from planrunner.engine.attention import late_state, late_text, sent_late
from planrunner.engine.events import (
    DONE,
    FAILED,
    INFO,
    SCHEDULED,
    SKIPPED,
    WAITING,
    WARNING,
    Emit,
    Event,
    RunResult,
)
from planrunner.engine.execute import Executor, InDoubt, wait_for_instant
from planrunner.engine.journal import Journal, JournalWriteError, Record
from planrunner.engine.orderwatch import OrderWatch
from planrunner.engine.outcome import Kind, SkipCode
from planrunner.engine.reconcile import reconcile
from planrunner.engine.summary import summarize
from planrunner.engine.triggers import (
    PriceSource,
    TriggerWatcher,
    may_hold,
    orders_of,
    symbols_of,
    window,
)
from planrunner.errors import BrokerError
from planrunner.kiwoom.exceptions import AuthError, KiwoomError, ServerBug
from planrunner.model import (
    Action,
    CompiledPlan,
    Job,
    Market,
    Modify,
    Place,
    Replace,
    Trigger,
    action_name,
    action_order,
)

FINAL = frozenset({"done", "skipped", "failed"})
SIM_REAL_GRACE = 2.0  # seconds of real time
PREP_LEAD = 0.2  # seconds of real time a job starts before its instant
GIL_SWITCH_SECONDS = 0.0005
# An early start (its checks: a few broker reads, ~3 ms, rarely 15) keeps clear of other
# jobs' instants: never from QUIET_BEFORE before one to QUIET_AFTER after it (real time).
QUIET_BEFORE = 0.02
QUIET_AFTER = 0.005
STEP_QUIET = 2.0  # real seconds before a step starts: no background order poll
# An idle run says what it waits for when its next step is at least this far (plan's clock).
IDLE_GAP = dt.timedelta(minutes=1)
WAIT_SETTLE = 3.0  # real seconds of standing still before the run says it is idle
WAITING_NAMES = 3  # steps and triggers named in that line (then "and N more")


def quiet_starts(
    instants: list[dt.datetime], lead: dt.timedelta, before: dt.timedelta, after: dt.timedelta
) -> dict[dt.datetime, dt.datetime]:
    """When each instant's jobs start: `lead` early, or earlier still so that their checks
    do not run while another instant's orders are being sent (the GIL would make those
    late). A start lies outside (t - before, t + after) for every other instant t; it
    moves back at most one more `lead`, and past that keeps `at - lead`."""
    times = sorted(set(instants))
    out: dict[dt.datetime, dt.datetime] = {}
    for at in times:
        start = at - lead
        while start >= at - 2 * lead:
            i = bisect.bisect_right(times, start - after)
            while i < len(times) and times[i] == at:
                i += 1
            if i == len(times) or times[i] >= start + before:
                break
            start = times[i] - before
        out[at] = start if start >= at - 2 * lead else at - lead
    return out


def _last_request(action: Action) -> int:
    """The index of the last request an action sends when it does all its work (a modify
    that reprices: its cancel of the excess is request 0, the reprice 1)."""
    if isinstance(action, Modify):
        return 1 if action.price is not None or action.ticks is not None else 0
    if isinstance(action, Market | Replace):
        return 1
    return 0


def _clock_text(at: dt.datetime) -> str:
    local = at.astimezone(SEOUL)
    return f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"


def waiting_text(
    at: dt.datetime | None,
    jobs: list[Job],
    triggers: list[tuple[str, dt.datetime, dt.datetime]],
    now: dt.datetime,
) -> str:
    """`for step entry.modify@14:00 at 14:00; trigger stop until 15:00`: what an idle run
    waits for (its line reads `waiting  for step …`; at most WAITING_NAMES names of each,
    then how many more)."""
    parts: list[str] = []
    if at is not None:
        names = [j.id for j in jobs[:WAITING_NAMES]]
        more = len(jobs) - len(names)
        named = ", ".join(names) + (f" and {more} more" if more else "")
        parts.append(f"step{'s' if len(jobs) > 1 else ''} {named} at {_clock_text(at)}")
    for name, start, end in triggers[:WAITING_NAMES]:
        span = f"from {_clock_text(start)} " if start > now else ""
        parts.append(f"trigger {name} {span}until {_clock_text(end)}")
    more = len(triggers) - WAITING_NAMES
    if more > 0:
        last = max(end for _n, _s, end in triggers)
        parts.append(f"{more} more trigger(s), the last until {_clock_text(last)}")
    return "for " + "; ".join(parts) + (" (no step left)" if at is None else "")


class Runner:
    def __init__(
        self,
        *,
        plan: CompiledPlan,
        executor: Executor,
        journal: Journal,
        clock: Clock,
        emit: Emit,
        stop: threading.Event | None = None,
        settle: float | None = None,  # reconcile's settle window (None: its default)
        prices: PriceSource | None = None,  # None: ka10001 polling; PushPrices: the feed
        began: dt.datetime | None = None,  # when the runner started (None: now, at run())
        watch_orders: bool = False,  # poll the orders between steps; end when nothing can act
        setup: dt.datetime | None = None,  # a hold of the clock the caller hands over
    ):
        self.plan = plan
        self.ex = executor
        self.journal = journal
        self.clock = clock
        self.emit = emit
        self.stop = stop or threading.Event()
        self.settle = settle
        self.began = began
        # on_late place: how late a job may still be sent, and the jobs sent so (by how much)
        self.window = plan.policy.late_window if plan.policy.on_late == "place" else None
        self._sent_late: dict[str, dt.timedelta] = {}
        self.grace = plan.policy.misfire_grace
        speed = clock.virtual_seconds(1.0)
        if speed > 1:
            # On a compressed clock the machine's own latency becomes minutes: a job is
            # late only past the plan's grace or two seconds of real time.
            self.grace = max(self.grace, dt.timedelta(seconds=SIM_REAL_GRACE * speed))
        # Jobs start this much early: their checks read the broker's state first, and the
        # order request alone waits for the plan's instant (on a compressed clock, at most
        # a virtual second early, so the checks do not see a stale market).
        executor.grace = self.grace  # a job its checks make late is not sent either
        self.lead = min(dt.timedelta(seconds=PREP_LEAD * speed), dt.timedelta(seconds=1))
        if speed <= 1:
            self.lead = dt.timedelta(seconds=PREP_LEAD)
        self._cv = threading.Condition()
        self._finished: set[str] = set()
        self._states: dict[str, str] = {}
        self._blocked: dict[str, str] = {}  # order -> why later jobs can't run
        self._doubtful: dict[str, str] = {}  # order -> the job whose request is in doubt
        self._fatal: str | None = None
        self.tracebacks: list[str] = []  # bugs: kept for the crash log, exit 3
        # Per order: its jobs in plan order, each job's place among them, and how many of
        # them have finished in a row from the first (constant-time turn-taking).
        self._order_jobs: dict[str, list[str]] = {}
        self._position: dict[str, tuple[str, int]] = {}
        for job in plan.jobs:
            jobs = self._order_jobs.setdefault(job.order, [])
            self._position[job.id] = (job.order, len(jobs))
            jobs.append(job.id)
        self._in_order: dict[str, int] = dict.fromkeys(self._order_jobs, 0)
        self._jobs: dict[str, Job] = {job.id: job for job in plan.jobs}
        self._setup: dt.datetime | None = setup  # the clock's hold while the run sets up
        self.starts: dict[str, dt.datetime] = {}
        self.watcher = TriggerWatcher(
            plan=plan,
            executor=executor,
            journal=journal,
            clock=clock,
            emit=emit,
            stop=self.stop,
            prices=prices,
        )
        self.orders: OrderWatch | None = None
        if watch_orders:
            self.orders = OrderWatch(
                executor=executor,
                journal=journal,
                clock=clock,
                emit=emit,
                stop=self.stop,
                every=self.watcher.poll_real,
                prices=prices,
                busy=self._step_soon,
            )
            self.watcher.closed_orders = self.orders.closed
        self.watcher.settle = self._settle_firing
        self._starts_real: list[float] = []  # when the jobs start (monotonic), sorted
        self._end_tried: tuple[int, ...] = ()  # what had moved when the end was last tried
        self.ended_early: str | None = None  # why the run ended before its last instant
        self._waiting_key: tuple[Any, ...] | None = None  # what the last `waiting` line said
        self._waiting_moved: tuple[Any, ...] = ()  # what had moved when last looked at
        self._waiting_since = 0.0  # since when (monotonic)
        self._waiting_judged = False  # whether that state was judged already

    # ---- the run ------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.began is None:
            self.began = self.clock.now()
        # A rehearsal's set-up (broker reads, scheduling) takes no time on its clock: its
        # first jobs are due a few virtual seconds after the start, a few real milliseconds.
        # The caller may have held it already (from before its own set-up: the feed's
        # connection); the run releases that hold as its own.
        if self._setup is None:
            self._setup = self.clock.hold(self.clock.now())
        try:
            return self._run()
        finally:
            self._end_setup()

    def _end_setup(self) -> None:
        held, self._setup = self._setup, None
        if held is not None:
            self.clock.release(held)

    def _run(self) -> RunResult:
        self._reconcile()
        for job_id, earlier in list(self.journal.state.jobs.items()):
            # Left unknown by an earlier run and settled just now: adopted, as mid-run.
            if earlier.state == "failed" and earlier.label == "unknown":
                order = next((str(r.get("order")) for r in earlier.acked_reqs.values()), "")
                if order:
                    self._found_later(job_id, order)
        for job_id, _req, rec in self.journal.state.in_doubt():
            # Still in doubt after a restart: later jobs on its order wait for it too.
            order = str(rec.get("order", ""))
            self._blocked[order] = f"an earlier request on {order} is in doubt"
            self._doubtful[order] = job_id
        todo: list[Job] = []
        for job in self.plan.jobs:
            js = self.journal.state.jobs.get(job.id)
            if js is not None and js.state in FINAL:
                state, why = late_state(js.state, js.reason, self.journal.state.late.get(job.id))
                self._finish(job.id, state + (f" ({why})" if why else ""))
                continue
            todo.append(job)
        resumed = len(self.plan.jobs) - len(todo)
        if resumed:
            self._info(f"resuming: {resumed} job(s) already finished are not repeated")
        refused = check_adoptions(self.plan, self.ex.client, self.journal)
        if refused:
            return self._refuse(refused)
        self._adopt()
        scheduler = self._scheduler(todo)
        # A job waking at its instant must take the GIL from whichever thread holds it
        # (another job's checks, the trigger poll). CPython hands it over every 5 ms by
        # default, which alone would make a request up to 5 ms late.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        try:
            scheduler.start()
            self.watcher.start()
            if self.orders is not None:
                self.orders.start()
            self._end_setup()  # the jobs hold their own instants from here
            self._wait(todo, scheduler)
            self._drain(scheduler)
        finally:
            self.ex.release_all()  # a job that will not run must not stop the clock
            scheduler.shutdown(wait=True)
            self.watcher.join()
            if self.orders is not None:
                self.orders.join()
            sys.setswitchinterval(switch)
        if self._doubtful and self._fatal is None and not self.stop.is_set():
            self._look_again()  # a place in doubt may have appeared at the broker since
        if self.watcher.failure:
            self._fatal = self._fatal or self.watcher.failure
            self.tracebacks.append(f"trigger watcher:\n{self.watcher.traceback}")
        if self.orders is not None and self.orders.failure:
            self._fatal = self._fatal or self.orders.failure
            self.tracebacks.append(f"order watch:\n{self.orders.traceback}")
        if self.journal.failure is not None:
            self._fatal = f"{self.journal.failure}: nothing was sent after it"
        return summarize(
            plan=self.plan,
            executor=self.ex,
            journal=self.journal,
            states=self._states,
            fatal=self._fatal,
            internal=bool(self.tracebacks),
            interrupted=self.stop.is_set() and self._fatal is None,
            watcher=self.watcher,
        )

    def _refuse(self, problems: dict[str, str]) -> RunResult:
        """Adopted orders that do not match the broker: nothing is scheduled or sent."""
        for text in problems.values():
            self.emit(Event(kind=FAILED, at=self.clock.now(), message=text))
        self._fatal = "an adopted order does not match the broker: nothing was sent"
        result = summarize(
            plan=self.plan,
            executor=self.ex,
            journal=self.journal,
            states=self._states,
            fatal=self._fatal,
            interrupted=False,
        )
        orders = tuple(
            replace(o, state="not adopted") if o.order in problems else o for o in result.orders
        )
        return replace(result, orders=orders, attention=(*result.attention, *problems.values()))

    def _adopt(self) -> None:
        for spec in self.plan.orders.values():
            if spec.adopt and not self.journal.state.lineage.get(spec.id):
                self._record({"type": "adopt", "order": spec.id, "ord_no": spec.adopt}, sync=True)
                self._info(f"adopted {spec.id} = {spec.adopt}", order=spec.id)

    def _pool_size(self, starts: dict[str, dt.datetime], todo: list[Job]) -> int:
        """Threads for the most jobs that can be alive at once. A job holds its thread from
        its early start through the wait for its instant and its requests (allow a lead's
        worth after the instant), and a job waiting its turn on an order holds one too: a
        pool smaller than that would queue the very job the others wait for."""
        edges: list[tuple[dt.datetime, int]] = []
        for job in todo:
            if job.id in starts:
                edges.append((starts[job.id], 1))
                edges.append((max(job.at, starts[job.id]) + self.lead, -1))
        alive = peak = 0
        for _, step in sorted(edges):
            alive += step
            peak = max(peak, alive)
        return max(peak, 1) + 2

    def _scheduler(self, todo: list[Job]) -> BackgroundScheduler:
        now = self.clock.now()
        speed = self.clock.virtual_seconds(1.0)
        early = quiet_starts(
            [job.at for job in todo],
            self.lead,
            before=dt.timedelta(seconds=QUIET_BEFORE * speed),
            after=dt.timedelta(seconds=QUIET_AFTER * speed),
        )
        if self.began is None:  # scheduled without run() (the memory bench does)
            self.began = now
        starts: dict[str, dt.datetime] = {}
        late_by: dict[str, dt.timedelta] = {}
        for job in todo:
            missed = self.began - job.at
            if missed > self.plan.policy.misfire_grace:  # passed while the runner was down
                if self.window is not None and missed <= self.window:
                    starts[job.id] = now  # on_late place: send it now
                    self._sent_late[job.id] = missed
                else:
                    late_by[job.id] = missed
            elif now - job.at <= self.grace:
                starts[job.id] = max(early[job.at], now)
            else:
                late_by[job.id] = now - job.at
        self.starts = starts  # on the plan's clock: when each job's early start fires
        base = time.monotonic()
        self._starts_real = sorted(
            base + (self.clock.real_of(at) - self.clock.real_of(now)).total_seconds()
            for at in starts.values()
        )
        self._hold(todo)
        pool = self._pool_size(starts, todo)
        grace_real = max(1, math.ceil(self.grace.total_seconds()))
        scheduler = BackgroundScheduler(
            timezone=SEOUL,
            executors={"default": ThreadPoolExecutor(max_workers=pool)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace_real},
        )
        scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        for job in todo:
            if job.id not in starts:
                self._late(job, late_by[job.id])
                continue
            scheduler.add_job(
                self._fire,
                trigger="date",
                run_date=self.clock.real_of(starts[job.id]),
                args=[job],
                id=job.id,
                name=job.id,
            )
            self.emit(
                Event(
                    kind=SCHEDULED,
                    at=now,
                    job=job.id,
                    order=job.order,
                    message=f"scheduled {action_name(job.action)} at "
                    f"{job.at.astimezone(SEOUL):%H:%M:%S}",
                    data={"at": job.at.astimezone(SEOUL).isoformat()},
                )
            )
        return scheduler

    def _hold(self, todo: list[Job]) -> None:
        """Hold the clock at each scheduled job's instant (a job already due holds it
        where it stands). Not a job after a later one on its order (a hand-built plan):
        it would wait for an instant that its own hold keeps from coming."""
        latest: dict[str, dt.datetime] = {}
        for job in todo:
            if job.id in self.starts and job.at >= latest.get(job.order, job.at):
                self.ex.hold(job.id, job.at)
            latest[job.order] = max(job.at, latest.get(job.order, job.at))

    def _wait(self, todo: list[Job], scheduler: BackgroundScheduler) -> None:
        ids = {job.id for job in todo}
        while True:
            with self._cv:
                if self.stop.is_set() or self._fatal is not None:
                    break
                if ids <= self._finished and self.watcher.finished():
                    return
                self._cv.wait(0.05)
            if self.orders is not None and self.ended_early is None:
                self._end_if_idle(todo, scheduler)
            if self.ended_early is None:
                self._say_waiting(todo)
        self.stop.set()

    def _step_soon(self) -> bool:
        """Whether a step starts within STEP_QUIET real seconds (or started in the last
        one): the order watch leaves the rate budget to its reads and requests."""
        now = time.monotonic()
        i = bisect.bisect_left(self._starts_real, now - 1.0)
        return i < len(self._starts_real) and self._starts_real[i] <= now + STEP_QUIET

    # ---- saying what an idle run waits for ------------------------------------------------

    def _say_waiting(self, todo: list[Job]) -> None:
        """While no step is at work and the next one is at least IDLE_GAP away (or none is
        left but triggers are armed), say once what the run waits for: the next step(s)
        with their time, and each armed trigger with its window. Judged once things have
        stood still for WAIT_SETTLE real seconds (a step done, a trigger fired or retired,
        an order seen closed: what follows from them first, as a trigger retired because
        its order closed, or the run's end), and said again only when it changes."""
        armed = list(self.watcher.armed)
        version = self.orders.version if self.orders is not None else 0
        moved = (len(self._finished), tuple(t.id for t in armed), version)
        mono = time.monotonic()
        if moved != self._waiting_moved:
            self._waiting_moved, self._waiting_since, self._waiting_judged = moved, mono, False
        if self._waiting_judged or mono - self._waiting_since < WAIT_SETTLE:
            return
        self._waiting_judged = True  # until something moves again
        now = self.clock.now()
        with self._cv:
            pending = [j for j in todo if j.id not in self._finished]
        if any(self.starts.get(j.id, now) <= now for j in pending):
            return  # a step is at work (or due): not idle
        if not pending and not armed:
            return  # the run ends on its own
        at = min((j.at for j in pending), default=None)
        if at is not None and at - now < IDLE_GAP:
            return  # the next step is close: not worth a line
        nxt = [j for j in pending if j.at == at]
        spans = [(t, *window(t, self.plan.day)) for t in armed]
        key = (tuple(j.id for j in nxt), tuple((t.id, b) for t, _a, b in spans))
        if key == self._waiting_key:
            return
        self._waiting_key = key
        self.emit(
            Event(
                kind=WAITING,
                at=now,
                message=waiting_text(at, nxt, [(t.id, a, b) for t, a, b in spans], now),
                data={
                    "next": None
                    if at is None
                    else {
                        "at": at.astimezone(SEOUL).isoformat(),
                        "jobs": [
                            {"job": j.id, "order": j.order, "action": action_name(j.action)}
                            for j in nxt
                        ],
                    },
                    "triggers": [
                        {
                            "trigger": t.id,
                            "action": action_name(t.action),
                            "order": action_order(t.action),
                            "from": a.isoformat(),
                            "until": b.isoformat(),
                        }
                        for t, a, b in spans
                    ],
                },
            )
        )

    # ---- ending when nothing more can happen ----------------------------------------------

    def _end_if_idle(self, todo: list[Job], scheduler: BackgroundScheduler) -> None:
        """Every order closed and no step or trigger left that could act: the steps left
        are skipped now, as they would be at their time (`skipped (filled)`), the
        triggers retire, and the run ends instead of waiting for its last instant."""
        assert self.orders is not None
        moves = (
            self.orders.version,
            len(self._finished),
            len(self.watcher.armed),
            sum(self.watcher.fired.values()),
        )
        if moves == self._end_tried:
            return  # nothing moved since the broker was last read for it
        pending = [j for j in todo if j.id not in self._finished]
        armed = list(self.watcher.armed)  # one reading: the watcher retires triggers meanwhile
        if not pending and not armed:
            return  # the run ends on its own
        why = self._idle(pending, self.orders.closed())
        if why is None:
            return
        self._end_tried = moves
        # The broker's word on each order concerned, read now with nothing in flight.
        orders = {j.order for j in pending} | {action_order(t.action) for t in armed}
        skips: dict[str, tuple[SkipCode, str]] = {}
        for order in sorted(orders):
            if order in self._doubtful or order in self._blocked:
                return
            try:
                found = self.ex.closed_skip(order)
            except BrokerError:
                return
            if found is None:
                return
            skips[order] = found
        last = max([j.at for j in pending] + [self._window_end(t) for t in armed])
        self.ended_early = f"nothing more can happen: {why}"
        self._info(
            f"{self.ended_early}; ending now, not at {last.astimezone(SEOUL):%H:%M:%S}",
            why=why,
        )
        for job in pending:
            try:
                scheduler.remove_job(job.id)
            except JobLookupError:
                continue  # already started: it reads the order itself and finishes
            code, reason = skips[job.order]
            self._skip(job, code, reason)
        retire: dict[str, tuple[SkipCode, str]] = {}
        for t in armed:
            order = action_order(t.action)
            if isinstance(t.action, Place):
                text = "the orders it watches are closed: its condition cannot hold again"
            else:
                text = f"its order {order} is {skips[order][1]}: the action is impossible"
            retire[t.id] = (SkipCode.ORDER_GONE, text)
        self.watcher.end(retire)

    def _idle(self, pending: list[Job], closed: dict[str, str]) -> str | None:
        """Why nothing more can happen, judged on what the order watch last saw (the
        broker is read again before anything is skipped), or None if something can."""
        if any(isinstance(j.action, Place) for j in pending):
            return None
        armed = list(self.watcher.armed)
        lineage = self.journal.state.lineage
        placing = {t.action.spec.id for t in armed if isinstance(t.action, Place)}

        def over(order: str) -> bool:
            return order in closed or (not lineage.get(order) and order not in placing)

        def filled(order: str) -> int:  # of an order that is over
            return 0 if closed.get(order, "cancelled") == "cancelled" else 1

        for t in armed:
            if isinstance(t.action, Place):
                named = orders_of(t.when)
                if not all(over(o) for o in named):
                    return None
                if symbols_of(t.when):
                    if may_hold(t.when, filled):
                        return None  # prices can still move
                    continue  # an order it needs filled ended unfilled: it cannot hold
                if any(lineage.get(o) for o in named) and not self.watcher.spent(t):
                    return None  # its condition on closed orders may still fire it once
            elif not over(action_order(t.action)):
                return None
        if any(not all(over(leg) for leg in g.legs) for g in list(self.watcher.groups)):
            return None
        if not all(over(j.order) for j in pending):
            return None
        placed = [o for o in list(self.ex.orders) if lineage.get(o)]
        if any(o not in closed for o in placed):
            return None
        if not placed:
            return "no order was placed and no step or trigger can place one"
        told = ", ".join(f"{o} {closed[o]}" for o in placed)
        return f"every order is closed ({told}) and no step or trigger can act"

    def _window_end(self, t: Trigger) -> dt.datetime:
        return window(t, self.plan.day)[1]

    def _drain(self, scheduler: BackgroundScheduler) -> None:
        """Let APScheduler remove the date jobs it already handed to the pool before it is
        shut down (it removes each one just after submitting it)."""
        for _ in range(100):
            if not self.stop.is_set() and scheduler.get_jobs():
                threading.Event().wait(0.01)
            else:
                return

    # ---- firing -------------------------------------------------------------------------

    def _fire(self, job: Job) -> None:
        try:
            # APScheduler fires on real time: after the clock stood still it fires early.
            wait_for_instant(self.clock, self.starts[job.id])
            self._await_turn(job)
            if self.stop.is_set():
                return
            now = self.clock.now()
            late = now - job.at
            missed = self._sent_late.get(job.id)
            if missed is not None:
                assert self.began is not None
                if now - max(job.at, self.began) > self.grace:  # the machine's own delay
                    self._late(job, late)
                    return
            elif late > self.grace:
                if self.window is None or late > self.window:
                    self._late(job, late)
                    return
                missed = late  # late while running (a long wait for its turn): in the window
            blocked = self._blocked.get(job.order)
            if blocked and self._look_again(job.order, firing=job.id):
                blocked = None
            if blocked:
                self._skip(job, SkipCode.BLOCKED, blocked)
                return
            if missed is not None:
                self._send_late(job, missed)
            state = self._execute(job)
            self._finish(job.id, state)
            if missed is not None and state == "done":
                with self._cv:
                    self._states[job.id] = f"done ({sent_late(late_text(missed))})"
        except Exception as e:  # any failure ends this job, loudly
            self._fail_run(job, e)

    def _execute(self, job: Job) -> str:
        try:
            outcome = self.ex.execute(job.id, job.action, not_before=job.at)
            if outcome.kind is Kind.IN_DOUBT:
                self._blocked[job.order] = f"{job.order} is in doubt: nothing more is sent for it"
            if outcome.code is SkipCode.LATE and self.plan.policy.on_late == "fail":
                self._fatal = f"{job.id} was {outcome.reason} and the plan says on_late: fail"
            return str(outcome)
        except InDoubt:
            return self._settle(job.id, job.order, job.action)

    def _settle_firing(self, job_id: str, order: str, action: Action) -> str:
        """A trigger's firing in doubt, settled as a step's; one still unsettled keeps
        its job unfinished (not `failed`), so a repeat trigger does not fire anew on an
        order whose last request is in doubt: a later crossing finishes that firing."""
        return self._settle(job_id, order, action, final=False)

    def _settle(self, job_id: str, order: str, action: Action, *, final: bool = True) -> str:
        """A request of `job_id` (a step, or a trigger's firing) left without an answer:
        settle it now from the broker's lists, then finish what the job still owes. While
        it settles the order counts as blocked: the run does not end on it as closed (a
        `market` whose cancel went through still owes its order)."""
        before = self._blocked.get(order)
        self._blocked[order] = f"an earlier request on {order} is in doubt"
        try:
            self._reconcile(job_id)
            js = self.journal.state.job(job_id)
            if js.open_intents or js.unknown_reqs:
                # Still unsettled: the step's checks must not run on a broker view
                # that may hold its own unclaimed request (it would act on it).
                raise InDoubt("still in doubt after reading the broker: not resent")
            outcome = self.ex.execute(job_id, action)
        except InDoubt as e:
            self._doubtful[order] = job_id
            if final:
                self._record(
                    {
                        "type": "failed",
                        "job": job_id,
                        "state": "unknown",
                        "attention": "unknown",
                        "reason": str(e),
                    }
                )
            return f"unknown ({e})"
        if outcome.kind is Kind.IN_DOUBT:
            self._blocked[order] = f"{order} is in doubt: nothing more is sent for it"
        elif before is None:
            self._blocked.pop(order, None)
        return str(outcome)

    def _reconcile(self, job: str | None = None) -> None:
        reconcile(
            journal=self.journal,
            client=self.ex.client,
            clock=self.clock,
            emit=self.emit,
            settle=self.settle,
            job=job,
        )

    def _look_again(self, order: str | None = None, *, firing: str | None = None) -> bool:
        """Read the broker again for requests left in doubt (all, or `order`'s): a place,
        modify or cancel whose request left without an answer is adopted if it has
        appeared since (reconcile.py says what proves it is ours), its job is done and the
        order's later steps go on from its number. `firing`: the job about to run, if it
        is the one in doubt (a restart): once settled it resumes its own action (a request
        it still owes is sent now, at its time). Whether `order` is no longer blocked."""
        for o, job_id in list(self._doubtful.items()):
            if order is not None and o != order:
                continue
            try:
                self._reconcile(job_id)
            except BrokerError as e:
                self.warn(f"could not read the broker to settle {job_id}: {e}")
                continue
            if job_id == firing:
                js = self.journal.state.job(job_id)
                settled = not (js.open_intents or js.unknown_reqs)
            else:
                settled = self._found_later(job_id, o)
            if settled:
                self._blocked.pop(o, None)
                self._doubtful.pop(o, None)
        return order is not None and order not in self._blocked

    def _found_later(self, job_id: str, order: str) -> bool:
        """After a reconcile: whether `job_id`'s requests are all settled now. If so its
        job is done when its last request was the one found; one that still owed a
        request (a `market` whose cancel was found later) ends failed, reported: what
        it did not send is not sent late."""
        js = self.journal.state.job(job_id)
        if js.open_intents or js.unknown_reqs or not js.acked_reqs:
            return False
        action = self._action_of(job_id)
        last = max(js.acked_reqs)
        ack = js.acked_reqs[last]
        if action is None and ack.get("kind") not in ("place", "market", "replace"):
            return False  # a one-cancels-other resize: only a place-like one is known done
        # A modify that cancelled all that remained had nothing left to reprice.
        whole = ack.get("kind") == "cancel" and not ack.get("partial")
        if (
            action is None
            or last >= _last_request(action)
            or (isinstance(action, Modify) and whole)
        ):
            self._record({"type": "done", "job": job_id, "reason": "found later"})
            self._info(f"{job_id}: its request was found at the broker and adopted", order=order)
            with self._cv:
                self._states[job_id] = "done (found at the broker later)"
            self.watcher.settled(job_id, "done (found at the broker later)")
            return True
        reason = (
            f"its request {last} was found at the broker later; the rest of the "
            f"{action_name(action)} was not sent"
        )
        self._record({"type": "failed", "job": job_id, "attention": "failed", "reason": reason})
        self.warn(f"{job_id}: {reason}")
        with self._cv:
            self._states[job_id] = f"failed ({reason})"
        self.watcher.settled(job_id, f"failed ({reason})")
        return True

    def _action_of(self, job_id: str) -> Action | None:
        """The action a journal job carries out: a step's, or a trigger firing's."""
        job = self._jobs.get(job_id)
        if job is not None:
            return job.action
        name = job_id.removeprefix("trigger:").split("#")[0]
        if job_id.startswith("trigger:"):
            return next((t.action for t in self.plan.triggers if t.id == name), None)
        return None

    def _await_turn(self, job: Job) -> None:
        """Jobs on one order run in plan order, even when they share an instant."""
        order, position = self._position[job.id]
        with self._cv:
            behind = self._in_order[order] < position
        if behind:
            self.ex.release(job.id)  # the earlier job may need time to pass (in flight)
        with self._cv:
            while not self.stop.is_set() and self._in_order[order] < position:
                self._cv.wait(0.05)

    def _send_late(self, job: Job, missed: dt.timedelta) -> None:
        """Say, before its intent, that a job goes out late because on_late says place."""
        assert self.window is not None
        late, window = late_text(missed), late_text(self.window)
        self._record(
            {
                "type": "late",
                "job": job.id,
                "late": late,
                "window": window,
                "late_seconds": round(missed.total_seconds(), 3),
            },
            sync=True,
        )
        self._say(WARNING, job, f"sending {late} late (on_late: place, window {window})")

    def _late(self, job: Job, late: dt.timedelta) -> None:
        seconds = late.total_seconds()
        text = f"late by {seconds:.0f}s" if seconds >= 1 else f"late by {seconds * 1000:.0f}ms"
        if self.window is not None:
            text += f", past the on_late window of {late_text(self.window)}"
        if self.plan.policy.on_late == "fail":
            self._record({"type": "failed", "job": job.id, "attention": "late", "reason": text})
            self._fatal = f"{job.id} was {text} and the plan says on_late: fail"
            self._say(FAILED, job, f"failed ({text}); stopping the run (on_late: fail)")
            self._finish(job.id, f"failed ({text})")
            return
        self._skip(job, SkipCode.LATE, text)

    def _skip(self, job: Job, code: SkipCode, reason: str) -> None:
        self._record({"type": "skipped", "job": job.id, "code": code, "reason": reason})
        self._say(SKIPPED, job, f"skipped ({reason})")
        self._finish(job.id, f"skipped ({reason})")

    def _finish(self, job_id: str, state: str) -> None:
        self.ex.release(job_id)
        if state == "done":  # said before the run can move on (and say what it waits for)
            self.emit(Event(kind=DONE, at=self.clock.now(), job=job_id, message="done"))
        with self._cv:
            self._states[job_id] = state
            self._finished.add(job_id)
            if job_id in self._position:
                order, _ = self._position[job_id]
                jobs = self._order_jobs[order]
                n = self._in_order[order]
                while n < len(jobs) and jobs[n] in self._finished:
                    n += 1
                self._in_order[order] = n
            self._cv.notify_all()

    def _record(self, rec: Record, *, sync: bool = False) -> None:
        """A record of the runner's own (skip, failure, adoption). If the journal cannot
        take it, the run stops: nothing more is sent, the report goes on."""
        try:
            self.journal.append(rec, sync=sync)
        except JournalWriteError as e:
            self._journal_failed(e)

    def _journal_failed(self, e: JournalWriteError) -> None:
        if self._fatal is None:
            self._fatal = str(e)
            self.emit(Event(kind=FAILED, at=self.clock.now(), message=f"run stopped: {e}"))
        self.stop.set()

    def _fail_run(self, job: Job, e: Exception) -> None:
        if isinstance(e, JournalWriteError):
            self._journal_failed(e)
            self._say(FAILED, job, f"failed: {e}")
            self._finish(job.id, f"failed ({e})")
            return
        fatal = isinstance(e, AuthError | ServerBug) or not isinstance(e, BrokerError)
        text = str(e) if isinstance(e, KiwoomError) else f"{type(e).__name__}: {e}"
        if not isinstance(e, BrokerError):
            self.tracebacks.append(f"job {job.id}:\n" + "".join(traceback.format_exception(e)))
        self._record({"type": "failed", "job": job.id, "reason": text})
        self._say(FAILED, job, f"failed: {text}")
        if fatal:
            self._fatal = text
        self._finish(job.id, f"failed ({text})")

    def _on_event(self, event: JobExecutionEvent) -> None:
        job = next((j for j in self.plan.jobs if j.id == event.job_id), None)
        if job is None or job.id in self._finished:
            return
        if event.code == EVENT_JOB_MISSED:
            self._late(job, self.clock.now() - job.at)
        else:
            self._fail_run(job, event.exception or RuntimeError("job error"))

    def _say(self, kind: str, job: Job, message: str) -> None:
        self.emit(
            Event(kind=kind, at=self.clock.now(), job=job.id, order=job.order, message=message)
        )

    def _info(self, message: str, *, order: str | None = None, **data: Any) -> None:
        self.emit(Event(kind=INFO, at=self.clock.now(), message=message, order=order, data=data))

    def warn(self, message: str) -> None:
        self.emit(Event(kind=WARNING, at=self.clock.now(), message=message))
