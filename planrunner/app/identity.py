"""Which plan a journal belongs to, and what changed since it was written.

A journal belongs to one plan file and its content: every `start` record holds the
file's absolute path, its sha256 and the day's timeline (job id -> what the job does).
A run whose file or content differs from the journal's last start is refused, with
what changed in the timeline, unless the user chose `--resume-changed` (jobs keep their
ids, so what already acted stays done) or `--fresh` (a new journal beside the old one).
A plan file whose `name:` changed the same day finds no journal under its new name, but
one of the day's journals names the file: the run is refused (`renamed_from`), as its
orders are managed there, unless `--fresh` says to start a new journal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planrunner.engine.journal import Record, Replay
from planrunner.errors import RunError
from planrunner.krx import days
from planrunner.model import Action, CompiledPlan, OrderSpec, action_name, trigger_job
from planrunner.plan.rules import Ladder, Plan


class PlanChanged(RunError):
    """The journal of this plan's day was written by another file or other content."""


def _plain(value: Any) -> Any:
    if isinstance(value, OrderSpec):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)} | {
            "mark": None
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return value


def _fields(d: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    parts = []
    for k, v in d.items():
        if v is None or k in skip:
            continue
        if isinstance(v, dict):
            v = "{" + _fields(v) + "}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


def describe(action: Action) -> str:
    """What an action does, without where it is written: `modify order=entry price=70100`."""
    return f"{action_name(action)} {_fields(_plain(action))}"


def timeline_of(plan: CompiledPlan) -> dict[str, str]:
    """Job id -> `at` and what it does; trigger job ids -> condition and action."""
    out = {job.id: f"{job.at_text} {describe(job.action)}" for job in plan.jobs}
    for t in plan.triggers:
        when = _fields(_plain(t.when))
        extra = f" between={t.between[0]}-{t.between[1]}" if t.between else ""
        extra += " repeat" if t.repeat else ""
        cond = f"when {type(t.when).__name__}({when}){extra}"
        out[trigger_job(t.id)] = f"{cond}: {describe(t.action)}"
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """How the plan now differs from the journal's (empty: the same plan)."""

    other_file: str | None  # the journal's file, if it is not this one
    content_changed: bool
    lines: tuple[str, ...]  # what changed in the day's timeline, one line each

    def __bool__(self) -> bool:
        return self.other_file is not None or self.content_changed


def _same_file(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return a == str(b)


def renamed_from(journal: Path, path: Path, params: object) -> Path | None:
    """Another journal of the same day and environment (another plan folder of the
    state directory) whose last run was this plan file with these parameter values: the
    file's `name:` changed. (The same file with other `--set` values is another plan:
    its journal's name carries their digest.)"""
    for other in sorted(journal.parent.parent.glob(f"*/{journal.name}")):
        if other.parent == journal.parent:
            continue
        try:
            lines = other.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        last: Any = None
        for line in lines:
            if '"start"' not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("type") == "start":
                last = rec
        if (
            isinstance(last, dict)
            and _same_file(str(last.get("file", "")), path)
            and last.get("params", {}) == params
        ):
            return other
    return None


def renamed_refusal(path: Path, *, name: str, old: Path) -> PlanChanged:
    return PlanChanged(
        f"{path} has a journal for this day under name: {old.parent.name} ({old}), and "
        f"now says name: {name}: its orders are managed by that journal. Put back "
        f"name: {old.parent.name} to resume it, or run with --fresh to start a new "
        "journal under the new name (the old journal's orders are then no longer "
        "managed by this run)"
    )


def compare(state: Replay, *, path: Path, sha256: str, timeline: dict[str, str]) -> Change | None:
    """None for a new journal; else the Change (falsy when nothing changed)."""
    if not state.starts:
        return None
    last: Record = state.starts[-1]
    other = None if _same_file(str(last.get("file", "")), path) else str(last.get("file"))
    changed = last.get("sha256") != sha256
    lines: list[str] = []
    old = last.get("timeline")
    if not isinstance(old, dict):
        if changed:
            lines.append("  (the journal does not record its plan's timeline: compare by hand)")
        return Change(other_file=other, content_changed=changed, lines=tuple(lines))

    def state_of(job_id: str) -> str:
        js = state.jobs.get(job_id)
        return f" [{js.state}]" if js is not None and js.state != "pending" else ""

    for job_id in sorted(set(old) | set(timeline)):
        if job_id not in timeline:
            lines.append(f"  - removed  {job_id}{state_of(job_id)}: {old[job_id]}")
        elif job_id not in old:
            lines.append(f"  + added    {job_id}: {timeline[job_id]}")
        elif old[job_id] != timeline[job_id]:
            lines.append(f"  ~ changed  {job_id}{state_of(job_id)}: {old[job_id]}")
            lines.append(f"             now: {timeline[job_id]}")
    if changed and not lines:
        lines.append("  (the file changed, the day's timeline did not)")
    return Change(other_file=other, content_changed=changed, lines=tuple(lines))


# Records that say nothing was done for the plan: a journal of only these (a run refused
# after it started, e.g. an `adopt` that does not match the broker) binds no plan.
_INERT = frozenset({"start", "stop", "output", "price", "attention"})


def acted(state: Replay) -> bool:
    """Whether anything was done under the journal: a request, an adoption, a job's
    outcome, a fill, a trigger's state. A changed plan is refused only then."""
    return any(r.get("type") not in _INERT for r in state.records)


def refusal(change: Change, *, path: Path, name: str, journal: Path) -> PlanChanged:
    if change.other_file is not None:
        head = (
            f"{path} and {change.other_file} both have name: {name}: they would share the "
            f"journal {journal}. Give this plan its own name:, or choose:"
        )
    else:
        head = f"{path} changed since its journal for this day was started ({journal}):"
    body = "\n".join(change.lines)
    return PlanChanged(
        f"{head}\n{body}\n"
        "run again with --resume-changed to go on with this plan (jobs that already acted "
        "stay done and are never repeated), or with --fresh to start a new journal (the old "
        "one is kept beside it; orders it placed are no longer managed by this run)"
    )


def relative_time(plan: Plan) -> str | None:
    """The first time in the plan that counts from the run start, as the user reads it."""
    for spec in plan.orders.values():
        if spec.adopt is None and spec.mark and spec.mark.path.startswith("$.orders."):
            if spec.at is None:
                return f"order {spec.id} has no at: (placed when the run starts)"
            if spec.at.offset is not None:
                return f"order {spec.id} at {spec.at.text}"
    for step in plan.steps:
        times = (step.action.start,) if isinstance(step.action, Ladder) else (step.at,)
        for t in times:
            if t is not None and t.offset is not None:
                return f"{step.path} at {t.text}"
    return None


def real_clock_day(plan: Plan, given: dt.date | None, now: dt.datetime | None = None) -> dt.date:
    """The day a run on a real clock (--dry-run, --live, cancel-all) belongs to: the date
    given or written in the plan; else today for a plan with times relative to the run
    start (they happen now, even on a day KRX is closed: the run then says so); else
    today if KRX trades today, or its next trading day."""
    if given is not None or plan.date is not None:
        return given or plan.date  # type: ignore[return-value]
    if relative_time(plan) is not None:
        return days.today_seoul(now)
    return days.default_plan_date(now)
