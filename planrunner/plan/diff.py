"""The semantic difference of two plans: what changes in the day's broker requests.

Pure: texts in, a `Diff` out (`as_text` / `as_dict` render it); the cli reads files and
git revisions. Both plans are compiled for the same day from the same run start, then:

- jobs are paired, in this order: same instant, order and action (a change of request
  fields); same order, action and requests at another instant (a move); same job id,
  order and action (a move with changed fields); what is left is removed or added;
- triggers are paired by id, then by condition and action;
- plan-level facts (name, date as written, policy, oco groups) are compared one by one.

Request fields are named in plan words (`ord_uv`/`mdfy_uv` are `price`, `ord_qty`/
`mdfy_qty` are `qty`, `cncl_qty` is `cancel qty`, `trde_tp` is `type` …). Order-number placeholders
(`<entry@3>`) are left out: they shift whenever a request is added before them, and the
runner resolves the newest number at fire time anyway. A literal number (an adopted
order's) is compared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from planrunner.errors import PlanError
from planrunner.kiwoom import codes
from planrunner.krx import days
from planrunner.model import (
    CompiledPlan,
    Job,
    Modify,
    Trigger,
    WireRequest,
    action_name,
    action_order,
)
from planrunner.plan.show import describe, summary

SEOUL = days.SEOUL

_WORDS = {
    "ord_uv": "price",
    "mdfy_uv": "price",
    "ord_qty": "qty",
    "mdfy_qty": "qty",
    "cncl_qty": "cancel qty",
    "trde_tp": "type",
    "cond_uv": "stop_price",
    "mdfy_cond_uv": "stop_price",
    "dmst_stex_tp": "exchange",
    "stk_cd": "symbol",
    "orig_ord_no": "order number",
}
_PRICES = {"price", "stop_price"}
_QTYS = {"qty", "cancel qty"}


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One job of one side, as compared."""

    id: str
    at: dt.datetime
    time: str  # for people: "09:30", "09:30:05", "+90s", "start"
    order: str
    action: str
    summary: str
    requests: tuple[WireRequest, ...]
    total_qty: int | None = None  # a modify's new total size (its requests send the excess)

    @property
    def content(self) -> tuple[Any, ...]:
        return (self.order, self.action, _requests_key(self.requests))


@dataclass(frozen=True, slots=True)
class JobChange:
    change: str  # added | removed | changed
    old: Entry | None
    new: Entry | None
    fields: tuple[Change, ...] = ()

    @property
    def entry(self) -> Entry:
        e = self.new or self.old
        assert e is not None
        return e


@dataclass(frozen=True, slots=True)
class TriggerChange:
    change: str  # added | removed | changed
    id: str
    summary: str
    fields: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class Side:
    """One plan version, compiled (or nothing: a plan file that does not exist there)."""

    label: str
    jobs: tuple[Entry, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Diff:
    old: str
    new: str
    day: dt.date
    plan: tuple[Change, ...]
    jobs: tuple[JobChange, ...]
    triggers: tuple[TriggerChange, ...]

    @property
    def equal(self) -> bool:
        return not (self.plan or self.jobs or self.triggers)


# ---- building the sides ------------------------------------------------------------------


def _clock(at: dt.datetime) -> str:
    local = at.astimezone(SEOUL)
    return local.strftime("%H:%M:%S" if local.second else "%H:%M")


def _entry(job: Job) -> Entry:
    offset = job.at_text.startswith("+") or job.at_text == "start"
    return Entry(
        id=job.id,
        at=job.at,
        time=job.at_text if offset else _clock(job.at),
        order=job.order,
        action=action_name(job.action),
        summary=summary(job.action),
        requests=job.requests,
        total_qty=job.action.qty if isinstance(job.action, Modify) else None,
    )


def side(label: str, compiled: CompiledPlan, written: dict[str, Any]) -> Side:
    """A compiled plan as compared; `written` is the plan's data as written (its date)."""
    p = compiled.policy
    facts = {
        "name": compiled.name,
        "date": written.get("date"),
        "policy.misfire_grace": _duration(p.misfire_grace),
        "policy.on_late": (
            p.on_late if p.late_window is None else f"place {_duration(p.late_window)}"
        ),
        "policy.price_poll": _duration(p.price_poll),
        "policy.max_order_value": p.max_order_value,
        **{f"params.{k}": v for k, v in compiled.params.items()},
        **{f"oco.{g.id}": " and ".join(g.legs) for g in compiled.oco},
    }
    return Side(
        label=label,
        jobs=tuple(_entry(j) for j in compiled.jobs),
        triggers=compiled.triggers,
        facts=facts,
    )


def _duration(d: dt.timedelta) -> str:
    ms = round(d.total_seconds() * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def compile_text(
    text: str | None,
    label: str,
    *,
    day: dt.date,
    run_start: dt.datetime | None,
    params: dict[str, str] | None = None,
) -> Side:
    """Load, check and compile one version (None: the file does not exist there).
    Raises PlanError with every problem, each naming `label`."""
    from planrunner.plan.compile import check_loaded
    from planrunner.plan.load import load_text

    if text is None:
        return Side(label=label)
    loaded = load_text(text, file=label)
    # A `now` on another day lays offsets and orders without `at` out from the open.
    now = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(0), tzinfo=SEOUL)
    compiled, problems = check_loaded(loaded, day=day, run_start=run_start, now=now, params=params)
    if problems or compiled is None:
        raise PlanError(problems)
    written = loaded.data if isinstance(loaded.data, dict) else {}
    return side(label, compiled, written)


def written_date(text: str | None) -> dt.date | None:
    """The `date:` a plan text states, if it states a valid one (for picking the day)."""
    from planrunner.plan.load import load_text

    if text is None:
        return None
    data = load_text(text).data
    if isinstance(data, dict) and isinstance(data.get("date"), str):
        try:
            return dt.date.fromisoformat(data["date"])
        except ValueError:
            return None
    return None


# ---- comparing ---------------------------------------------------------------------------


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<")


def _requests_key(reqs: Iterable[WireRequest]) -> tuple[Any, ...]:
    return tuple(
        (r.api_id, tuple(sorted((k, "#" if _placeholder(v) else v) for k, v in r.body.items())))
        for r in reqs
    )


def _value(word: str, raw: Any) -> Any:
    if raw == "":
        return None
    if word == "type" and isinstance(raw, str):
        return codes.ORDER_TYPE_OF.get(raw, raw)
    if word in _PRICES | _QTYS and isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return raw


def request_changes(
    old: tuple[WireRequest, ...], new: tuple[WireRequest, ...]
) -> tuple[Change, ...]:
    """The fields that change between two request lists, in plan words. Requests pair by
    api-id in order; one only on one side is a change of `request`."""
    out: list[Change] = []
    apis_old, apis_new = [r.api_id for r in old], [r.api_id for r in new]
    if apis_old != apis_new:
        out.append(Change("requests", ", ".join(apis_old), ", ".join(apis_new)))
    pending = list(new)
    pairs = []
    for r in old:
        match = next((n for n in pending if n.api_id == r.api_id), None)
        if match is not None:
            pending.remove(match)
            pairs.append((r, match))
    several = len(old) > 1 or len(new) > 1
    for a, b in pairs:
        for key in sorted(set(a.body) | set(b.body), key=_key_order):
            va, vb = a.body.get(key, ""), b.body.get(key, "")
            if va == vb or (_placeholder(va) and _placeholder(vb)):
                continue
            word = _WORDS.get(key, key)
            name = f"{a.api_id} {word}" if several else word
            out.append(Change(name, _value(word, va), _value(word, vb)))
    return tuple(out)


_ORDER = ("stk_cd", "dmst_stex_tp", "orig_ord_no", "trde_tp", "ord_uv", "mdfy_uv", "cond_uv")


def _key_order(key: str) -> tuple[int, str]:
    return (_ORDER.index(key) if key in _ORDER else len(_ORDER), key)


def _pair(
    old: list[Any],
    new: list[Any],
    key: Callable[[Any], Hashable],
    pairs: list[tuple[Any, Any]],
) -> tuple[list[Any], list[Any]]:
    """Pair items of equal key (in order); return what is left of each side."""
    waiting: dict[Hashable, list[Any]] = {}
    for n in new:
        waiting.setdefault(key(n), []).append(n)
    rest_old = []
    for o in old:
        bucket = waiting.get(key(o))
        if bucket:
            pairs.append((o, bucket.pop(0)))
        else:
            rest_old.append(o)
    taken = {id(n) for _, n in pairs}
    return rest_old, [n for n in new if id(n) not in taken]


def _jobs(old: tuple[Entry, ...], new: tuple[Entry, ...]) -> list[JobChange]:
    pairs: list[tuple[Entry, Entry]] = []
    o, n = _pair(list(old), list(new), lambda e: (e.at, e.order, e.action), pairs)
    o, n = _pair(o, n, lambda e: e.content, pairs)
    o, n = _pair(o, n, lambda e: (e.id, e.order, e.action), pairs)
    out = []
    for a, b in pairs:
        fields = request_changes(a.requests, b.requests)
        if a.total_qty != b.total_qty:
            fields = (Change("qty", a.total_qty, b.total_qty), *fields)
        if a.at != b.at or fields:
            out.append(JobChange("changed", a, b, fields))
    out += [JobChange("removed", a, None) for a in o]
    out += [JobChange("added", None, b) for b in n]
    return sorted(out, key=lambda c: (c.entry.at, c.change != "removed", c.entry.id))


def _trigger_content(t: Trigger) -> tuple[Any, ...]:
    return (describe(t.when), action_name(t.action), _requests_key(t.requests))


def _window(t: Trigger) -> str:
    if t.between is None:
        return "the regular session"
    return "-".join(x.strftime("%H:%M:%S" if x.second else "%H:%M") for x in t.between)


def _triggers(old: tuple[Trigger, ...], new: tuple[Trigger, ...]) -> list[TriggerChange]:
    pairs: list[tuple[Trigger, Trigger]] = []
    o, n = _pair(list(old), list(new), lambda t: t.id, pairs)
    o, n = _pair(o, n, _trigger_content, pairs)
    out = []
    for a, b in pairs:
        fields: list[Change] = []
        if a.id != b.id:
            fields.append(Change("id", a.id, b.id))
        if describe(a.when) != describe(b.when):
            fields.append(Change("when", describe(a.when), describe(b.when)))
        if _window(a) != _window(b):
            fields.append(Change("between", _window(a), _window(b)))
        if a.repeat != b.repeat:
            fields.append(Change("repeat", a.repeat, b.repeat))
        if (action_name(a.action), action_order(a.action)) != (
            action_name(b.action),
            action_order(b.action),
        ):
            fields.append(Change("action", summary(a.action), summary(b.action)))
        else:
            fields += request_changes(a.requests, b.requests)
        if fields:
            out.append(TriggerChange("changed", b.id, summary(b.action), tuple(fields)))
    out += [TriggerChange("removed", t.id, _trigger_line(t)) for t in o]
    out += [TriggerChange("added", t.id, _trigger_line(t)) for t in n]
    return out


def _trigger_line(t: Trigger) -> str:
    window = _window(t)
    once = "every time" if t.repeat else "once"
    return f"when {describe(t.when)}, between {window}, {once}: {summary(t.action)}"


def compare(old: Side, new: Side, day: dt.date) -> Diff:
    if not (old.facts and new.facts):  # a plan added or deleted: its name, then its jobs
        name = Change("name", old.facts.get("name"), new.facts.get("name"))
        facts = [name] if name.old != name.new else []
    else:
        facts = [
            Change(k, old.facts.get(k), new.facts.get(k))
            for k in dict.fromkeys([*old.facts, *new.facts])
            if old.facts.get(k) != new.facts.get(k)
        ]
    return Diff(
        old=old.label,
        new=new.label,
        day=day,
        plan=tuple(facts),
        jobs=tuple(_jobs(old.jobs, new.jobs)),
        triggers=tuple(_triggers(old.triggers, new.triggers)),
    )


# ---- rendering ---------------------------------------------------------------------------


def _show(name: str, value: Any) -> str:
    if value is None:
        return "none"
    money = name.rsplit(" ", 1)[-1] in _PRICES or name.endswith("max_order_value")
    if money and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _changes(fields: Iterable[Change]) -> str:
    return ", ".join(f"{c.field} {_show(c.field, c.old)} → {_show(c.field, c.new)}" for c in fields)


def _job_line(c: JobChange) -> str:
    if c.change != "changed":
        e = c.entry
        return f"{'+' if c.change == 'added' else '-'} {e.time} {e.summary}"
    assert c.old is not None and c.new is not None
    when = c.new.time if c.old.at == c.new.at else f"{c.old.time} → {c.new.time}"
    what = (
        _changes(c.fields)
        if c.fields
        else c.new.summary.removeprefix(f"{c.new.action} {c.new.order}").strip(" :")
    )
    return f"~ {when} {c.new.action} {c.new.order} {what}".rstrip()


def as_text(d: Diff) -> str:
    if d.equal:
        return ""
    lines = [f"--- {d.old}", f"+++ {d.new}", f"day {d.day.isoformat()}, times in Asia/Seoul"]
    lines += [f"~ {_changes([c])}" for c in d.plan]
    lines += [_job_line(c) for c in d.jobs]
    for t in d.triggers:
        if t.change == "changed":
            lines.append(f"~ trigger {t.id}: {_changes(t.fields)}")
        else:
            lines.append(f"{'+' if t.change == 'added' else '-'} trigger {t.id}: {t.summary}")
    return "\n".join(lines) + "\n"


def _fields(fields: Iterable[Change]) -> list[dict[str, Any]]:
    return [{"field": c.field, "old": c.old, "new": c.new} for c in fields]


def as_dict(d: Diff) -> dict[str, Any]:
    return {
        "old": d.old,
        "new": d.new,
        "date": d.day.isoformat(),
        "equal": d.equal,
        "plan": _fields(d.plan),
        "jobs": [
            {
                "change": c.change,
                "old_id": c.old.id if c.old else None,
                "new_id": c.new.id if c.new else None,
                "old_at": c.old.time if c.old else None,
                "new_at": c.new.time if c.new else None,
                "order": c.entry.order,
                "action": c.entry.action,
                "summary": c.entry.summary,
                "fields": _fields(c.fields),
            }
            for c in d.jobs
        ],
        "triggers": [
            {"change": t.change, "id": t.id, "summary": t.summary, "fields": _fields(t.fields)}
            for t in d.triggers
        ],
    }
