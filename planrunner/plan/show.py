"""Render a compiled plan: the day's timeline as text for people, or JSON for machines.

Pure: returns strings and dicts; `cli.py` prints them.

JSON form of `planrunner show --format json` (one object):

    {"plan": name, "file": path, "date": "YYYY-MM-DD", "timezone": "Asia/Seoul",
     "broker": {switch: value} (only those away from the default; `show --broker`),
     "run_start": ISO datetime or null (null: offsets laid out from now / the open),
     "params": {name: value in force} ({} for a plan without parameters),
     "jobs": [{"id": "steps[1]#2", "at": ISO datetime, "at_text": "09:40" | "+90s" | "start",
               "order": "entry", "action": "modify", "summary": "modify entry price 70,300",
               "requests": [{"api_id": "kt10002", "body": {...official field names...}}]}],
     "triggers": [{"id", "when": "price 005930 below 69,000", "between": ["09:00:00", "15:30:00"],
                   "repeat": false, "order", "action", "summary", "requests": [...]}],
     "oco": [{"id", "legs": [a, z], "summary", "requests": {leg: [...]}}],
     "policy": {"misfire_grace_s", "on_late" ("skip" | "fail" | "place"),
                "late_window_s" (on_late place: its window, else null), "price_poll_s",
                "max_order_value"}}
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from planrunner.model import (
    Action,
    AllCond,
    AnyCond,
    Cancel,
    CompiledPlan,
    Condition,
    FilledCond,
    Job,
    Market,
    Modify,
    OcoGroup,
    PartiallyFilledCond,
    Place,
    PriceCond,
    Replace,
    TrailingCond,
    Trigger,
    WireRequest,
    action_name,
    action_order,
)

_OPS = {
    "below": "below",
    "above": "above",
    "at_or_below": "at or below",
    "at_or_above": "at or above",
}


def describe(cond: Condition) -> str:
    """A condition in words: `price 005930 below 69,000`."""
    match cond:
        case PriceCond():
            return f"price {cond.symbol} {_OPS[cond.op]} {cond.value:,}"
        case FilledCond():
            return f"{cond.order} filled"
        case PartiallyFilledCond():
            return f"{cond.order} partially filled"
        case TrailingCond():
            if cond.side == "below_high":
                return f"price {cond.symbol} {cond.by.text} below its high since armed (trailing)"
            return f"price {cond.symbol} {cond.by.text} above its low since armed (trailing)"
        case AllCond() | AnyCond():
            joiner = " and " if isinstance(cond, AllCond) else " or "
            return "(" + joiner.join(describe(c) for c in cond.items) + ")"
        case _:
            assert_never(cond)


def _won(price: int | None) -> str:
    return "?" if price is None else f"{price:,}"


def summary(action: Action) -> str:
    """One line for an action: `modify entry price 70,300`."""
    match action:
        case Place(spec=s):
            price = f" @ {s.price:,}" if s.price is not None else ""
            stop = f" stop {s.stop_price:,}" if s.stop_price is not None else ""
            qty = str(s.qty)
            ff = s.from_fill
            if ff is not None:
                way = "up" if s.side == "sell" else "down"
                qty = f"what {ff.order} filled,"
                if ff.price is not None:
                    price = f" @ its average fill price {ff.price.text} (rounded {way})"
                if ff.stop_price is not None:
                    stop = f" stop at its average fill price {ff.stop_price.text} (rounded {way})"
            what = f"{s.side} {qty} {s.symbol}{price} {s.order_type}{stop}"
            part = f" (slice {s.sliced})" if s.sliced else ""
            return f"place {s.id}{part}: {what} on {s.exchange}"
        case Modify():
            parts = []
            if action.qty is not None:
                parts.append(f"qty {action.qty}")
            if action.ticks is not None:
                sign = f"{action.ticks:+d} tick{'s' if abs(action.ticks) != 1 else ''}"
                parts.append(f"price {_won(action.price)} ({sign})")
            elif action.price is not None:
                parts.append(f"price {action.price:,}")
            return f"modify {action.order} " + ", ".join(parts)
        case Cancel():
            return f"cancel {action.order} " + (
                "all remaining" if action.qty is None else f"qty {action.qty}"
            )
        case Market():
            return f"market {action.order}: cancel the remainder, place what it confirms at market"
        case Replace():
            price = f" @ {action.price:,}" if action.price is not None else ""
            new = f"new {action.order_type} order of {action.qty} less what filled{price}"
            return f"replace {action.order}: cancel the remainder, {new}"
        case _:
            assert_never(action)


def oco_summary(g: OcoGroup) -> str:
    a, z = g.legs
    return (
        f"{a} and {z}; a fill on one brings the other down to what is left, a whole fill cancels it"
    )


def _req(r: WireRequest) -> dict[str, Any]:
    return {"api_id": r.api_id, "body": dict(r.body)}


def _body(r: WireRequest) -> str:
    return f"{r.api_id} " + json.dumps(r.body, ensure_ascii=False)


def _time(plan: CompiledPlan, job: Job) -> str:
    """Clock times as HH:MM:SS; offsets as written, with the instant if the start is known."""
    local = job.at.astimezone(plan.tz).strftime("%H:%M:%S")
    if job.at_text.startswith("+") or job.at_text == "start":
        return f"{local} ({job.at_text})" if plan.run_start is not None else job.at_text
    return local


def as_dict(plan: CompiledPlan) -> dict[str, Any]:
    p = plan.policy
    return {
        "plan": plan.name,
        "file": plan.file,
        "date": plan.day.isoformat(),
        "timezone": "Asia/Seoul",
        "run_start": plan.run_start.isoformat() if plan.run_start else None,
        "params": dict(plan.params),
        "jobs": [
            {
                "id": j.id,
                "at": j.at.isoformat(),
                "at_text": j.at_text,
                "order": j.order,
                "action": action_name(j.action),
                "summary": summary(j.action),
                "requests": [_req(r) for r in j.requests],
            }
            for j in plan.jobs
        ],
        "triggers": [_trigger_dict(t) for t in plan.triggers],
        "oco": [
            {
                "id": g.id,
                "legs": list(g.legs),
                "summary": oco_summary(g),
                "requests": {leg: [_req(r) for r in reqs] for leg, reqs in g.requests.items()},
            }
            for g in plan.oco
        ],
        "policy": {
            "misfire_grace_s": p.misfire_grace.total_seconds(),
            "on_late": p.on_late,
            "late_window_s": p.late_window.total_seconds() if p.late_window else None,
            "price_poll_s": p.price_poll.total_seconds(),
            "max_order_value": p.max_order_value,
        },
    }


def _trigger_dict(t: Trigger) -> dict[str, Any]:
    between = [x.isoformat("seconds") for x in t.between] if t.between else None
    return {
        "id": t.id,
        "when": describe(t.when),
        "between": between,
        "repeat": t.repeat,
        "order": action_order(t.action),
        "action": action_name(t.action),
        "summary": summary(t.action),
        "requests": [_req(r) for r in t.requests],
    }


def as_text(plan: CompiledPlan, broker: dict[str, str] | None = None) -> str:
    """`broker`: the switches away from the default the requests were predicted for."""
    start = plan.run_start.strftime("%H:%M:%S") if plan.run_start else None
    lines = [
        f"plan {plan.name} ({plan.file})",
        f"day {plan.day.isoformat()} ({plan.day.strftime('%a')}), times in Asia/Seoul"
        + (f", run start {start}" if start else "; +offsets count from the run start"),
    ]
    if broker:
        lines.append("broker " + ", ".join(f"{k}={v}" for k, v in broker.items()))
    if plan.params:
        lines.append("params " + ", ".join(f"{k}={v}" for k, v in plan.params.items()))
    lines += ["", "jobs"]
    width = max([12, *(len(j.id) for j in plan.jobs)])
    for j in plan.jobs:
        lines.append(f"  {_time(plan, j):<16} {j.id:<{width}} {summary(j.action)}")
        lines.extend(f"  {'':<16} {'':<{width}} {_body(r)}" for r in j.requests)
    if not plan.jobs:
        lines.append("  (none)")
    lines += ["", "triggers"]
    for t in plan.triggers:
        d = _trigger_dict(t)
        window = "-".join(d["between"]) if d["between"] else "the regular session"
        once = "every time" if t.repeat else "once"
        lines.append(f"  {t.id}: when {d['when']}, between {window}, {once}")
        lines.append(f"    {d['summary']}")
        lines.extend(f"    {_body(r)}" for r in t.requests)
    if not plan.triggers:
        lines.append("  (none)")
    if plan.oco:
        lines += ["", "one-cancels-other"]
        for g in plan.oco:
            lines.append(f"  {g.id}: {oco_summary(g)}")
            for leg, reqs in g.requests.items():
                lines.extend(f"    {leg}: {_body(r)}" for r in reqs)
    if plan.policy.late_window is not None:
        secs = plan.policy.late_window.total_seconds()
        window = f"{secs / 60:g}m" if secs >= 60 else f"{secs:g}s"
        lines += [
            "",
            f"on_late: a job missed by at most {window} (the runner was down at its time) is "
            "sent when the runner starts, once; a later one is skipped",
        ]
    if plan.policy.max_order_value is not None:
        lines += [
            "",
            f"max_order_value {plan.policy.max_order_value:,} won "
            "(market orders are checked by the runner when they fire)",
        ]
    return "\n".join(lines) + "\n"
