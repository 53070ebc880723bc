"""Pure compile: plan + day -> the ordered jobs and triggers (`model.CompiledPlan`).

Job ids come from what a job is, not from where it is written, so editing the file
(inserting a step or a trigger above another) does not shift them; the journal keys on
them, so a resumed run recognises what already acted:
- `entry.place`            placement of the order `entry` (adopted orders have none);
- `entry.modify@09:30`     a step: its order, its action and its time as normalised
                           (`09:30`, `09:30:05`, `+90s`);
- `entry.modify@09:30~2`   the 2nd step with the same order, action and time;
- `entry.ladder@09:35#2`   the 2nd rung (1-based) of the ladder on `entry` from 09:35.
Triggers keep their `id`; without one they get one from their content (`plan.rules`).

Order numbers in the requests (what `show` prints): `<entry@N>` is the number returned
by the N-th request the plan sends on `entry`, counting every place, modify and cancel
(N = 1 is its placement; `market` and `replace` send two). An adopted order starts from
its real number (`0000139`) and its first request returns `<hedge@1>`. A trigger can
fire at any moment, so its requests name `<entry>`: the newest number at fire time.
`<confirmed qty>` is the quantity the cancel of a `market` confirms; `<hedge price +1
tick>` is a relative price whose base the plan does not know (an adopted order with no
price); `<20 - filled>` the size of a `replace qty: 20` (the new total less what filled).
Every request names the number that holds the order then, as the runner does at fire
time (it reads it from the broker's open orders): that of its last place or modify. A
partial cancel leaves the rest under the number it named, so the next request names
that number again; for a broker that lists the rest under the cancel's own new number
(`remainder="cancel"`, `show --broker remainder=cancel`) the next request names that.

Rules checked here (they need the day or the order of events): the day is a trading day,
clock times fall inside the hours of the order type (`days.windows_for`; offsets from
the run start are checked by the runner), no action before an order is placed or after
its cancel (all) or market, qty changes (a modify cannot add), ladder limit on the right
side of its first price, and `policy.max_order_value` (qty x price, qty x limit for a
ladder; a market order's value is unknown until fire time, so the runner checks those).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from planrunner.errors import PlanError, Problem
from planrunner.krx import days
from planrunner.model import (
    PRICED_TYPES,
    CompiledPlan,
    Modify,
    Place,
    Replace,
    TimeSpec,
    Trigger,
    action_name,
    action_order,
)
from planrunner.plan.load import Loaded, load_file
from planrunner.plan.rules import Ladder, Plan, Step, build, not_trading_day
from planrunner.plan.rules import TriggerSpec as TriggerSpecT
from planrunner.plan.timeline import (
    SEOUL,
    Timed,
    Value,
    Walk,
    oco_requests,
    tick_text,
    wire_requests,
)


def _session(day: dt.date) -> days.Session:
    """`days.session` (cached there, per day and calendar file)."""
    return days.session(day)


def _expand(plan: Plan, day: dt.date, start: dt.datetime) -> list[Timed]:
    def at(t: TimeSpec | None) -> dt.datetime:
        return start if t is None else t.resolve(day, start, SEOUL)

    out = []
    for i, spec in enumerate(plan.orders.values()):
        if spec.adopt is None and spec.mark and spec.mark.path.startswith("$.orders."):
            text = spec.at.text if spec.at else "start"
            path = f"{spec.mark.path}.at" if spec.at else spec.mark.path
            out.append(
                Timed(
                    at=at(spec.at),
                    seq=(0, i, 0),
                    id=f"{spec.id}.place",
                    text=text,
                    time=spec.at,
                    action=Place(spec=spec),
                    path=path,
                )
            )
    seen: dict[str, int] = {}
    for step in plan.steps:
        jid = step_id(step)
        seen[jid] = seen.get(jid, 0) + 1
        if seen[jid] > 1:
            jid = f"{jid}~{seen[jid]}"
        if not isinstance(step.action, Ladder):
            out.append(
                Timed(
                    at=at(step.at),
                    seq=(1, step.index, 0),
                    id=jid,
                    text=step.at.text if step.at else "",
                    time=step.at,
                    action=step.action,
                    path=f"{step.path}.at",
                )
            )
            continue
        lad = step.action
        end = "until" if lad.times is None else "times"  # where later rungs point
        first, last = at(lad.start), at(lad.until)
        k, when = 1, first
        while when <= last:
            off = when - first
            t = TimeSpec(
                text=_text(lad.start, off),
                clock=None if lad.start.offset is not None else when.time(),
                offset=None if lad.start.offset is None else lad.start.offset + off,
            )
            out.append(
                Timed(
                    at=when,
                    seq=(1, step.index, k),
                    id=f"{jid}#{k}",
                    text=t.text,
                    time=t,
                    action=lad,
                    path=f"{step.path}.ladder.{'from' if k == 1 else end}",
                    rung=k,
                )
            )
            k, when = k + 1, when + lad.every
    return sorted(out, key=lambda t: (t.at, t.seq))


def time_key(t: TimeSpec) -> str:
    """A time as it names a job: `09:30`, `09:30:05`, `+90s` (`+1m` is `+60s`)."""
    if t.offset is not None:
        return f"+{t.offset.total_seconds():g}s"
    assert t.clock is not None
    return t.clock.strftime("%H:%M:%S" if t.clock.second else "%H:%M")


def step_id(step: Step) -> str:
    """`entry.modify@09:30`, `exit.place`, `entry.ladder@09:35` (rungs add `#k`)."""
    action = step.action
    if isinstance(action, Ladder):
        return f"{action.order}.ladder@{time_key(action.start)}"
    if isinstance(action, Place):
        return f"{action.spec.id}.place"
    assert step.at is not None
    return f"{action_order(action)}.{action_name(action)}@{time_key(step.at)}"


def _text(start: TimeSpec, off: dt.timedelta) -> str:
    if start.offset is not None:
        secs = (start.offset + off).total_seconds()
        return f"+{secs:g}s"
    if off == dt.timedelta(0):
        return start.text
    assert start.clock is not None
    t = (dt.datetime.combine(dt.date(2000, 1, 1), start.clock) + off).time()
    return t.isoformat("seconds") if t.second else t.strftime("%H:%M")


def _trigger(plan: Plan, spec_: TriggerSpecT, day: dt.date, walk: Walk) -> Trigger:
    action = spec_.action
    oid = action.spec.id if isinstance(action, Place) else action.order
    spec = plan.orders[oid]
    base = f"{spec_.path}.{type(action).__name__.lower()}"
    price: Value | None = None
    reduce_by: Value | None = None
    if isinstance(action, Place):
        walk.check_value(f"{base}.qty", spec.qty, spec.price)
    elif isinstance(action, Modify):
        if action.qty is not None:
            reduce_by = f"<remaining - {action.qty}>"
        if action.ticks is not None:
            price = f"<{oid} price {tick_text(action.ticks)}>"
        elif action.price is not None:
            price = action.price
            walk.check_value(f"{base}.price", spec.qty, action.price)
    elif isinstance(action, Replace):
        price = action.price if action.price is not None else f"<{oid} price>"
        if action.order_type not in PRICED_TYPES:
            price = None
        walk.check_value(f"{base}.qty", action.qty, action.price)
    reqs = wire_requests(action, spec, lambda i: f"<{oid}>", price=price, reduce_by=reduce_by)
    regular = _session(day).regular
    return Trigger(
        id=spec_.id,
        when=spec_.when,
        action=action,
        between=spec_.between or (regular.start, regular.end),
        repeat=spec_.repeat,
        requests=reqs,
        source=plan.mark(spec_.path),
    )


def analyse(
    plan: Plan,
    *,
    day: dt.date | None = None,
    run_start: dt.datetime | None = None,
    now: dt.datetime | None = None,
    closed_ok: bool = False,
    remainder: str = "original",
    padding: str = "7",
) -> tuple[CompiledPlan, list[Problem]]:
    """Compile for one day and report what the day or the order of events makes wrong.

    `day`: overrides the plan's date (default: the plan's, else today if a KRX trading day,
    else the next one). `run_start` anchors "+90s" times and orders without `at`; without
    it (validate, show, diff) they are laid out from the day's regular open, whatever the
    time now: the verdict on a plan and a day never depends on the hour it is checked.
    What depends on the real start (an order without `at` placed after a 10:00 step,
    offsets past the close) is reported by `run`, which compiles with its start.
    `closed_ok`: a day KRX is closed is not a problem (a run against a local simulator,
    which keeps its own calendar; the run warns instead).
    `remainder`, `padding`: the broker's reading the requests' numbers follow
    (`timeline.Walk`; the defaults are the simulator's defaults).
    """
    now = now or dt.datetime.now(SEOUL)
    problems: list[Problem] = []
    if day is None:
        day = plan.date or days.default_plan_date(now)
    elif day != plan.date and not closed_ok and (msg := not_trading_day(day)):
        problems.append(plan.problem("$.date" if plan.date else "$", msg))
    start = run_start
    if start is None:
        start = _session(day).at(_session(day).regular.start)
    walk = Walk(plan, day, remainder=remainder, padding=padding)
    jobs = [j for t in _expand(plan, day, start) if (j := walk.job(t)) is not None]
    triggers = tuple(_trigger(plan, t, day, walk) for t in plan.triggers)
    compiled = CompiledPlan(
        name=plan.name,
        file=plan.file,
        day=day,
        tz=SEOUL,
        exchange=plan.exchange,
        orders=dict(plan.orders),
        jobs=tuple(jobs),
        triggers=triggers,
        policy=plan.policy,
        run_start=run_start,
        params=dict(plan.params),
        oco=tuple(
            dataclasses.replace(
                g,
                requests={
                    a: oco_requests(plan.orders[a], z),
                    z: oco_requests(plan.orders[z], a),
                },
            )
            for g in plan.oco
            for a, z in [g.legs]
        ),
    )
    return compiled, problems + walk.problems


def compile_plan(
    plan: Plan,
    *,
    day: dt.date | None = None,
    run_start: dt.datetime | None = None,
    now: dt.datetime | None = None,
    closed_ok: bool = False,
    remainder: str = "original",
    padding: str = "7",
) -> CompiledPlan:
    """`analyse`, raising PlanError if anything is wrong."""
    compiled, problems = analyse(
        plan,
        day=day,
        run_start=run_start,
        now=now,
        closed_ok=closed_ok,
        remainder=remainder,
        padding=padding,
    )
    if problems:
        raise PlanError(problems)
    return compiled


def check_loaded(
    loaded: Loaded,
    *,
    day: dt.date | None = None,
    run_start: dt.datetime | None = None,
    now: dt.datetime | None = None,
    params: Mapping[str, str] | None = None,
    remainder: str = "original",
    padding: str = "7",
) -> tuple[CompiledPlan | None, list[Problem]]:
    """The whole pipeline on a parsed file: parameters (`--set` values), schema, plan
    rules, compile rules."""
    from planrunner.plan import schema
    from planrunner.plan.params import apply

    problems = list(loaded.problems)
    values: dict[str, Any] = {}
    if not problems:
        loaded, values, problems = apply(loaded, params)
        problems = problems or schema.check(loaded)
    if problems or loaded.data is None:
        return None, sorted(problems, key=Problem.sort_key)
    plan, problems = build(loaded)
    plan = dataclasses.replace(plan, params=values)
    compiled, more = analyse(
        plan, day=day, run_start=run_start, now=now, remainder=remainder, padding=padding
    )
    return compiled, sorted(set(problems + more), key=Problem.sort_key)


def check_file(
    path: str | Path,
    *,
    day: dt.date | None = None,
    now: dt.datetime | None = None,
    params: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of one plan file (empty if it is valid)."""
    return check_loaded(load_file(path), day=day, now=now, params=params)[1]


def compile_file(
    path: str | Path,
    *,
    day: dt.date | None = None,
    run_start: dt.datetime | None = None,
    now: dt.datetime | None = None,
    params: Mapping[str, str] | None = None,
    remainder: str = "original",
    padding: str = "7",
) -> CompiledPlan:
    """Load, check and compile a plan file; raises PlanError with every problem."""
    compiled, problems = check_loaded(
        load_file(path),
        day=day,
        run_start=run_start,
        now=now,
        params=params,
        remainder=remainder,
        padding=padding,
    )
    if problems or compiled is None:
        raise PlanError(problems)
    return compiled
