"""One rule for "needs attention", shared by `run`'s summary and `status`.

Every item comes from the journal, with a typed reason:
- a job whose final record says it did not do its work for a reason a trader must know:
  `late`, `skipped` (limits, session closed, max_order_value, blocked by an earlier doubt,
  ...), `rejected`, `failed`, `unknown` (its outcome could not be settled), `in-doubt`
  (the broker's lists and the run's arithmetic disagree about the order);
- a request whose outcome is still unknown (`unknown`);
- what the end of a run recorded as an `attention` line: an order whose end state could
  not be read (`unread`) or does not add up (`in-doubt`), a run stopped early (`stopped`).

A job `on_late: place` sent late (a `late` record) is not an item by itself: it did its
work, and `run` and `status` show it `done (sent 7m late: on_late place)`; when it needs
attention for another reason, its item says it went out late.
Routine skips are not items: whether a skip is routine is a property of the code its
record carries (outcome.SkipCode.routine), never of its wording.
A run with any item exits 2 (130 when interrupted, 3 on an internal error first).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from planrunner.engine.journal import JobState, Record, Replay
from planrunner.engine.outcome import SkipCode

REASONS = ("late", "skipped", "rejected", "failed", "unknown", "in-doubt", "unread", "stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    reason: str  # one of REASONS
    text: str  # "entry.place: skipped (late by 42s)"
    job: str | None = None
    order: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "text": self.text}
        if self.job:
            out["job"] = self.job
        if self.order:
            out["order"] = self.order
        return out


def state_text(js: JobState, late: Record | None = None) -> str:
    """The job's state as `run` names it: `skipped (late by 42s)`, `rejected (...)`,
    `done (sent 7m late: on_late place)` (`late`: its `late` record, if any)."""
    label, reason = late_state(js.label, js.reason, late)
    return label + (f" ({reason})" if reason else "")


def late_text(late: dt.timedelta) -> str:
    """`42s`, `4m12s`, `350ms`: how late, for people."""
    seconds = late.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


_LATE_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|m|s)")


def late_seconds(late: Record) -> float | None:
    """How late, in seconds, from a `late` record: its `late_seconds`, else its text
    (`350ms`, `42s`, `4m12s`: older journals); None if neither reads."""
    value = late.get("late_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(late.get("late", ""))
    parts = _LATE_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}
    return sum(float(n) * scale[u] for n, u in parts)


def sent_late(late: str) -> str:
    """The reason shown beside a job `on_late: place` sent late: `sent 7m late: on_late
    place` (`late`: how late, as journaled)."""
    return f"sent {late} late: on_late place"


def late_state(label: str, reason: str, late: Record | None) -> tuple[str, str]:
    """A job's state and reason with its `late` record (None: it was not sent late) told,
    as `run` and `status` show them: `done (sent 7m late: on_late place)`; a job that
    ended otherwise keeps its reason, how late it was after it (`skipped (...; 7m late:
    on_late place)`: it may have sent nothing); a job with no record after its `late`
    one has written no request (yet, or the runner stopped in between)."""
    if late is None:
        return label, reason
    how = str(late.get("late", "?"))
    if label == "pending":
        return label, f"to be sent {how} late (on_late: place); no request written"
    if label == "done" and not reason:
        return label, sent_late(how)
    note = f"{how} late: on_late place"
    return label, f"{reason}; {note}" if reason else note


def job_reason(js: JobState) -> str | None:
    """The typed reason a job needs attention, None when it does not."""
    if js.state == "skipped":
        return SkipCode.of(js.code).attention
    if js.state == "failed":
        # Every failed record says why it needs attention (`late`, `in-doubt`, ...); one
        # without is a plain failure.
        if js.attention:
            return js.attention
        return js.label if js.label in ("unknown", "rejected") else "failed"
    return None


def items(state: Replay) -> list[Item]:
    """Everything that needs attention in this journal, in a stable order."""
    out: list[Item] = []
    for job_id, js in state.jobs.items():
        reason = job_reason(js)
        if reason is not None:
            out.append(
                Item(
                    reason=reason,
                    text=f"{job_id}: {state_text(js, state.late.get(job_id))}",
                    job=job_id,
                )
            )
    why = doubts(state.records)
    for job_id, req, _rec in state.in_doubt():
        said = why.get((job_id, req))
        text = (
            f"{job_id}: outcome unknown: {said}"
            if said
            else f"{job_id}: outcome unknown; `planrunner run` reconciles it first"
        )
        out.append(Item(reason="unknown", text=text, job=job_id))
    for rec in latest_run(state.records):
        if rec.get("type") == "attention":
            out.append(
                Item(
                    reason=str(rec.get("reason", "failed")),
                    text=str(rec.get("text", "")),
                    job=rec.get("job"),
                    order=rec.get("order"),
                )
            )
    # A stopped run first, then by job or order: the same order whichever thread wrote
    # its record first (run and status must print the same list).
    out.sort(key=lambda i: (i.reason != "stopped", i.text))
    return out


def doubts(records: list[Record]) -> dict[tuple[str, int], str]:
    """Why each request a reconcile left in doubt is still in doubt, as it last said
    (`doubt` records), by (job, request)."""
    out: dict[tuple[str, int], str] = {}
    for rec in records:
        if rec.get("type") == "doubt" and rec.get("why"):
            out[(str(rec.get("job")), int(rec.get("req", 0)))] = str(rec["why"])
    return out


def latest_run(records: list[Record]) -> list[Record]:
    """The records since the last `start` (what the latest run recorded)."""
    for i in range(len(records) - 1, -1, -1):
        if records[i].get("type") == "start":
            return records[i:]
    return records
