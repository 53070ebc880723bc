"""`planrunner run` as a library call: plan file + mode → a finished (or resumed) run.

Order of things: validate the plan, pick the day, open the journal (which takes the
one-runner lock and tells the run start of an earlier attempt), compile with that start,
connect to the target, record `start`, then hand the jobs to the Runner.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planrunner.app.crashlog import write_crash_log
from planrunner.app.identity import (
    acted,
    compare,
    real_clock_day,
    refusal,
    relative_time,
    renamed_from,
    renamed_refusal,
    timeline_of,
)
from planrunner.app.kinds import broker_kinds
from planrunner.app.notify import TIMEOUT, Notifier, summary_line
from planrunner.app.targets import (
    Target,
    build_remote,
    build_sim,
    file_sha256,
    keys_from_env,
    live_guard,
    scenario_start,
    sim_speed,
    sim_window,
    warm_up,
)
from planrunner.clock import SEOUL
from planrunner.engine.checks import FILLS_ON_ARRIVAL
from planrunner.engine.events import INFO, WARNING, Emit, Event, RunResult, steady
from planrunner.engine.execute import Executor
from planrunner.engine.journal import FORMAT, Journal, JournalWriteError, journal_path
from planrunner.engine.pushprices import PushPrices
from planrunner.engine.runner import Runner
from planrunner.engine.standing import StandingTwins
from planrunner.engine.triggers import symbols_of
from planrunner.errors import RunError, UsageError
from planrunner.kiwoom.codes import QUOTE
from planrunner.kiwoom.types import ord_key
from planrunner.krx import days, instruments, ticks
from planrunner.model import PRICED_TYPES, CompiledPlan, OrderSpec
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import NOTIFY_EVENTS, Plan, load_plan
from planrunner.redact import redact

if TYPE_CHECKING:
    from planrunner.app.several import KeyHold, Shared
    from planrunner.kiwoom.client import KiwoomClient
    from planrunner.kiwoom.feed import Feed


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    mode: str = "sim"  # sim | dry-run | live
    state_dir: Path
    date: dt.date | None = None
    speed: float | None = None
    scenario: Path | None = None
    seed: int = 0
    base_url: str | None = None
    allow_dirty: bool = False
    adopt: tuple[tuple[str, str], ...] = ()
    params: dict[str, str] = field(default_factory=dict)  # --set name=value
    fresh: bool = False  # a new journal; an existing one is kept beside it
    resume_changed: bool = False  # go on with a changed plan under the day's journal
    notify: tuple[str, ...] = ()  # --notify URL: on top of the plan's notify: URLs
    notify_timeout: float = TIMEOUT  # seconds per notification message
    feed: bool = True  # prices and order events from the broker's WebSocket (--no-feed: poll)
    rate_limit: str | None = None  # --rate-limit mock|live|off; None: the target's own
    key_hold: KeyHold | None = None  # the app key's lock: its budget spent by the run before


def _day(plan_date: dt.date | None, opt: dt.date | None, *, strict: bool) -> dt.date:
    day = opt or plan_date or days.default_plan_date()
    if not days.is_trading_day(day):
        name = days.holiday_name(day) or day.strftime("%A")
        if strict:
            raise RunError(f"{day} is not a KRX trading day ({name}): the plan will not run")
    return day


def _check_day(plan: Plan, day: dt.date, opts: RunOptions) -> None:
    """On a real clock, times relative to the run start happen today: such a plan cannot
    run for another day (its orders would go out now, under that day's journal)."""
    if opts.mode == "sim":
        return
    today = dt.datetime.now(SEOUL).date()
    if day == today:
        return
    why = relative_time(plan)
    if why is None:
        return
    source = f"--date {day}" if opts.date else f"date: {day}"
    raise UsageError(
        f"{source}: this plan has times relative to the run start ({why}); on a real clock "
        f"they happen today ({today}), not on {day}. Run it on its day without --date, or "
        "write clock times"
    )


def _with_adoptions(plan: CompiledPlan, adopt: tuple[tuple[str, str], ...]) -> CompiledPlan:
    """`--adopt ID=ORD_NO`: the order is already at the broker, so it is not placed."""
    if not adopt:
        return plan
    orders = dict(plan.orders)
    for order_id, ord_no in adopt:
        if order_id not in orders:
            raise UsageError(f"--adopt {order_id}={ord_no}: the plan has no order {order_id!r}")
        orders[order_id] = replace(orders[order_id], adopt=ord_no)
    owners: dict[str, str] = {}
    for spec in orders.values():
        if spec.adopt is None:
            continue
        if ord_key(spec.adopt) in owners:
            raise UsageError(
                f"order {spec.adopt} would be adopted twice ('{owners[ord_key(spec.adopt)]}' "
                f"and '{spec.id}'): one order at the broker is managed by one order of the plan"
            )
        owners[ord_key(spec.adopt)] = spec.id
    placed = {f"{order_id}.place" for order_id, _ in adopt}
    return replace(plan, orders=orders, jobs=tuple(j for j in plan.jobs if j.id not in placed))


def _first_prices(plan: CompiledPlan) -> dict[str, int]:
    """Where the simulator's random walk starts for each symbol: a few ticks away from the
    plan's first limit price, on the side where the order waits (above a buy, below a
    sell), so a rehearsal shows orders resting before the walk reaches them."""
    prices: dict[str, int] = {}
    for spec in plan.orders.values():
        if spec.price and spec.order_type in PRICED_TYPES and spec.symbol not in prices:
            step = 5 if spec.side == "buy" else -5
            prices[spec.symbol] = ticks.step(spec.price, step, instruments.order_kind(spec))
    return prices


def feed_prices(
    executor: Executor, *, say_state: bool = True
) -> tuple[PushPrices, list[Callable[[Any], None]]]:
    """The prices the live feed pushes to a run (read through `executor` while the feed is
    down; each logged in its price book), and where the feed's order events go: to
    `executor`, then to each of the returned pokes (the run's order watch, once it is)."""
    pokes: list[Callable[[Any], None]] = []
    # A place's twins from a standing read while the feed carries the order events
    # (engine/standing.py); closed with the run (`executor.standing.close`).
    executor.standing = StandingTwins(
        executor.client,
        fills=any(o.order_type in FILLS_ON_ARRIVAL for o in executor.plan.orders.values()),
    )

    def on_order(event: Any) -> None:
        executor.note_pushed(event)
        for poke in pokes:
            poke(event)

    prices = PushPrices(
        poll=lambda s: executor.quote(s, source="poll").price,
        emit=executor.emit,
        clock=executor.clock,
        on_order=on_order,
        observe=lambda s, p: executor.prices.observe(s, p, source="feed"),
        free=lambda: executor.client.limiter.free(QUOTE),
        say_state=say_state,
        standing=executor.standing,
    )
    return prices, pokes


def open_feed(url: str, client: KiwoomClient, plan: CompiledPlan, prices: PushPrices) -> Feed:
    """The live feed at `url`, started: the prices of `plan`'s trigger symbols and every
    order event, handed to `prices`."""
    from planrunner.kiwoom.feed import Feed

    feed = Feed(url, client.tokens, prices.listener())
    feed.watch_prices(sorted({s for t in plan.triggers for s in symbols_of(t.when)}))
    feed.watch_orders()
    feed.start()
    return feed


def _start_feed(
    target: Target, plan: CompiledPlan, prices: PushPrices, closers: list[Callable[[], None]]
) -> Feed:
    """The live feed for this run: the broker's WebSocket (from the base URL), or for a
    rehearsal the embedded simulator's, served on 127.0.0.1 for the run's length."""
    from planrunner.kiwoom.feed import ws_url_for

    url = ws_url_for(target.client.base_url)
    if target.simulator is not None:
        server = target.simulator.serve()
        url = server.ws_url
        closers.append(server.close)
    feed = open_feed(url, target.client, plan, prices)
    closers.append(feed.close)
    return feed


def remote_target(opts: RunOptions, live: bool) -> Target:
    """The client on Kiwoom (or --base-url) with the keys from the environment."""
    appkey, secret = keys_from_env()
    target = build_remote(
        live=live,
        base_url=opts.base_url,
        state_dir=opts.state_dir,
        appkey=appkey,
        secret=secret,
        rate_limit=opts.rate_limit,
    )
    if opts.key_hold is not None:
        opts.key_hold.take_over(target.client.limiter)
    return target


def _codes(plan: CompiledPlan) -> set[str]:
    """Every code a plan trades or watches (its orders and its price triggers)."""
    out = {spec.symbol for spec in plan.orders.values()}
    for trigger in plan.triggers:
        out |= symbols_of(trigger.when)
    return out


def _declare_kinds(target: Target, orders: Iterable[OrderSpec]) -> None:
    """The rehearsal's simulator grids each symbol as the plan declares it (`instrument`)."""
    if target.simulator is not None:
        for spec in orders:
            if spec.instrument:
                target.simulator.declare_kind(spec.symbol, spec.instrument)


def _notifier(plan: Plan, opts: RunOptions, warn: Callable[[str], None]) -> Notifier | None:
    """The run's notifications: the plan's `notify:` URLs and `--notify` ones (those get
    the plan's choice of events, or all)."""
    urls = [*(plan.notify.urls if plan.notify else ()), *opts.notify]
    if not urls:
        return None
    return Notifier(
        urls,
        title=f"planrunner: {plan.name}",
        events=plan.notify.events if plan.notify else NOTIFY_EVENTS,
        orders={oid: (spec.symbol, spec.side) for oid, spec in plan.orders.items()},
        warn=warn,
        timeout=opts.notify_timeout,
    )


def run_plan(
    path: Path,
    opts: RunOptions,
    *,
    emit: Emit,
    stop: threading.Event,
    on_target: Callable[[Target], None] | None = None,
    shared: Shared | None = None,
) -> RunResult:
    """Run (or resume) a plan. `on_target` sees the connected target first: tests use it
    to keep the embedded simulator, whose request log is the truth about what was sent.
    `shared`: the client and feed of a multi-plan run (several.py), which closes them."""
    # Raises PlanError with every problem. Against Kiwoom, the grid of a code of unknown
    # kind is checked once the broker has said what the code is (below).
    plan = load_plan(path, opts.params, defer_unknown_kinds=opts.mode != "sim")
    strict = not (opts.mode == "dry-run" and opts.base_url)
    live = opts.mode == "live"
    # The committed-plan check first: it needs no calendar and refuses whatever the day.
    commit = live_guard(path, allow_dirty=opts.allow_dirty) if live else None
    given = opts.date or plan.date
    if given is None and opts.mode != "sim":
        given = real_clock_day(plan, None)  # relative times happen today, even on a closed day
    day = _day(plan.date, given, strict=strict)
    _check_day(plan, day, opts)
    # Before any clock starts: apprise loads its plugins (most of a second, which would
    # move a rehearsal's market ahead of its clock), and a URL it does not know is an
    # error before anything is sent. Its threads start with the first message.
    warn_to: list[Callable[[str], None]] = []
    notifier = _notifier(plan, opts, lambda m: warn_to[0](m) if warn_to else None)

    kind_notes: list[str] = []
    if opts.mode == "sim":
        # Relative times count from the rehearsal's start, which itself is chosen from the
        # plan's clock times: draft them from the open, whatever the hour is now.
        # A scenario may start the clock later (a runner started late): from there.
        opening = days.session(day).regular.start
        late_start = scenario_start(opts.scenario)
        anchor = dt.datetime.combine(day, late_start or opening, SEOUL)
        draft = compile_plan(plan, day=day, run_start=anchor)
        start, end = sim_window(draft)
        if late_start is not None:
            start, end = anchor, max(end, anchor + dt.timedelta(minutes=1))
        began: dt.datetime | None = start
        speed = sim_speed(start, end, opts.speed)
        compiled = _with_adoptions(compile_plan(plan, day=day, run_start=start), opts.adopt)
        target: Target = build_sim(
            start=start,
            speed=speed,
            scenario=opts.scenario,
            seed=opts.seed,
            prices=_first_prices(compiled),
            adopted=tuple(o for o in compiled.orders.values() if o.adopt),
            codes=_codes(compiled),
        )
        _declare_kinds(target, compiled.orders.values())
        env = "sim"
        jpath = journal_path(opts.state_dir, plan.journal_name, day, env)
    else:
        target = shared.target if shared is not None else remote_target(opts, live)
        env = target.env
        jpath = journal_path(opts.state_dir, plan.journal_name, day, env)
        began = None  # when run() begins
        # The kind of each code (its tick grid) as the broker lists it, asked once a day;
        # the plan is checked again with it, every price on its grid, before any order.
        kinds, kind_notes = broker_kinds(
            target.client, plan, days.today_seoul(target.clock.now()), opts.state_dir, env
        )
        plan = load_plan(path, opts.params, kinds)

    if on_target is not None and shared is None:
        on_target(target)
    journal = Journal(jpath)
    printer = emit

    def output_failed(exc: Exception) -> None:
        journal.append(
            {
                "type": "output",
                "error": f"{type(exc).__name__}: {exc}",
                "note": "output stopped; the run goes on and this journal keeps the record",
            },
            sync=True,
        )

    emit = plain = steady(printer, output_failed)
    ended = False
    started = False  # the start record is written: the journal is this run's
    setup: dt.datetime | None = None  # the rehearsal clock's hold while the run sets up
    closers: list[Callable[[], None]] = []  # the live feed and its server, last first
    try:
        if notifier is not None:
            warn_to[:] = [lambda m: plain(Event(kind=WARNING, at=target.clock.now(), message=m))]
            emit = notifier.wrap(emit)
        # A rehearsal starts from nothing (the last one is kept beside it), like --fresh.
        state = journal.open(fresh=opts.fresh or opts.mode == "sim")
        sha = file_sha256(path)
        changed = None
        if opts.mode != "sim":
            run_start = state.run_start or target.clock.now()
            compiled = _with_adoptions(
                compile_plan(plan, day=day, run_start=run_start, closed_ok=not strict),
                opts.adopt,
            )
            known = state.starts or opts.fresh  # its own journal, or a new one asked for
            old = None if known else renamed_from(jpath, path, plan.params)
            if old is not None:
                raise renamed_refusal(path, name=plan.name, old=old)
            change = compare(state, path=path, sha256=sha, timeline=timeline_of(compiled))
            # a journal under which nothing was done (a run refused after it started)
            # binds no plan: the changed one goes on, saying what changed
            if change and not opts.resume_changed and acted(state):
                raise refusal(change, path=path, name=plan.name, journal=jpath)
            if change:
                changed = list(change.lines)
        run_start = compiled.run_start or target.clock.now()
        journal.append(
            {
                "type": "start",
                "format": FORMAT,
                "pid": os.getpid(),
                "mode": target.mode,
                "env": env,
                "file": str(path.resolve()),
                "sha256": sha,
                "params": plan.params,
                "git_commit": commit,
                "run_start": (state.run_start or run_start).isoformat(),
                "resumed": bool(state.starts),
                "timeline": timeline_of(compiled),
                **({"changed": changed} if changed is not None else {}),
            },
            sync=True,
        )
        started = True
        warm_up(target, day)
        # A rehearsal's day starts here: what is left to set up (the live feed's
        # connection, the runner) takes no time on its clock, or a loaded machine would
        # make the first jobs late. The runner takes this hold over and releases it.
        setup = target.clock.hold(target.clock.now())
        now = target.clock.now()
        emit(
            Event(
                kind=INFO,
                at=now,
                message=f"{target.mode} run of {plan.name} for {day} (journal {jpath})",
            )
        )
        if opts.mode == "sim":
            speed_note = f"×{target.clock.virtual_seconds(1.0):.0f}"
            emit(
                Event(
                    kind=INFO,
                    at=now,
                    message=f"embedded simulator, virtual clock from "
                    f"{now.astimezone(SEOUL):%H:%M:%S} {speed_note}",
                )
            )
        for note in [*target.notes, *kind_notes, *compiled.warnings]:
            emit(Event(kind=WARNING, at=now, message=note))
        if journal.kept is not None and opts.mode != "sim":
            emit(
                Event(
                    kind=WARNING,
                    at=now,
                    message=f"fresh journal; the old one is kept at "
                    f"{journal.kept}: the orders it placed are not managed by this run",
                )
            )
        if changed is not None:
            emit(
                Event(
                    kind=WARNING,
                    at=now,
                    message="the plan changed since this day's journal "
                    + (
                        "was started; resuming with it (--resume-changed):"
                        if opts.resume_changed
                        else "was started, but nothing was done under it; going on with it:"
                    ),
                )
            )
            for line in changed:
                emit(Event(kind=WARNING, at=now, message=line.strip()))
        if not strict and not days.is_trading_day(day):
            emit(Event(kind=WARNING, at=now, message=f"{day} is not a KRX trading day"))

        def warn(message: str) -> None:
            emit(Event(kind=WARNING, at=target.clock.now(), message=message))

        executor = Executor(
            plan=compiled,
            client=target.client,
            journal=journal,
            clock=target.clock,
            emit=emit,
            enforce_session=target.enforce_session,
            warn=warn,
        )
        prices = None
        pokes: list[Callable[[Any], None]] = []  # the order watch, once there is one
        if opts.feed:
            # Plans sharing a feed leave its state to the process, which says it once.
            alone = shared is None or shared.fanout.announce is None
            prices, pokes = feed_prices(executor, say_state=alone)
            if executor.standing is not None:
                closers.append(executor.standing.close)
            if shared is not None:
                symbols = {s for t in compiled.triggers for s in symbols_of(t.when)}
                listener = prices.listener()
                live_feed = shared.feed_for(listener, symbols)
                closers.append(lambda: shared.leave(listener))  # before its journal closes
            else:
                live_feed = _start_feed(target, compiled, prices, closers)
            if executor.standing is not None:
                executor.standing.heard = lambda: live_feed.heard
            if alone:
                emit(Event(kind=INFO, at=now, message=f"live feed: {live_feed.url}"))
        runner = Runner(
            plan=compiled,
            executor=executor,
            journal=journal,
            clock=target.clock,
            emit=emit,
            stop=stop,
            prices=prices,
            began=began,
            watch_orders=True,
            setup=setup,
        )
        setup = None  # the runner's now
        if runner.orders is not None:
            pokes.append(runner.orders.poke)
        result = runner.run()
        if target.simulator is not None and compiled.triggers:
            from planrunner.engine.reaction import reactions

            sim = target.simulator
            found = reactions(
                compiled,
                journal.state,
                sim.price_history,
                target.clock.virtual_seconds(1.0),
            )
            for tid, figures in found.items():
                result.stats.setdefault("triggers", {}).setdefault(tid, {}).update(figures)
        if runner.tracebacks:
            log = write_crash_log("\n".join(runner.tracebacks), opts.state_dir)
            result = replace(result, attention=(*result.attention, f"traceback in {log}"))
        if journal.failure is None:
            with contextlib.suppress(JournalWriteError):
                journal.append({"type": "stop", "exit_code": result.exit_code}, sync=True)
        if notifier is not None:
            notifier.finish(result, summary_line(plan.name, result))
            ended = True
        return result
    except BaseException as e:
        if notifier is not None and not ended:
            notifier.send("end", redact(f"{plan.name} stopped: {type(e).__name__}: {e}"))
        raise
    finally:
        if setup is not None:  # never handed to a runner: time goes on
            target.clock.release(setup)
        for close in reversed(closers):
            close()
        if notifier is not None:
            for note in notifier.close():  # after the journal's stop: printed only
                plain(Event(kind=WARNING, at=target.clock.now(), message=note))
        if started:
            journal.close()
        else:  # refused before it began: no empty journal left behind (nor a set-aside one)
            journal.abandon()
        if shared is None:
            target.client.close()
