"""The end of a run: per order its lineage, filled/remaining and state; the exit code."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from planrunner.clock import SEOUL
from planrunner.engine.attention import Item, items
from planrunner.engine.events import OrderSummary, RunResult
from planrunner.engine.journal import Journal, JournalWriteError, Link
from planrunner.errors import ExitCode
from planrunner.model import CompiledPlan

if TYPE_CHECKING:
    from planrunner.engine.execute import Executor
    from planrunner.engine.triggers import TriggerWatcher


def _iso(text: str | None) -> str | None:
    """A journal time as ISO-8601 with its offset, in Seoul (None if unreadable)."""
    try:
        when = dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.astimezone(SEOUL).isoformat(timespec="milliseconds")


def link_data(link: Link, planned: dict[str, dt.datetime] | None = None) -> dict[str, Any]:
    """One number of a lineage for machines: `ord_no` (a string: an identifier, its zeros
    kept), `kind` (place, adopt, modify, cancel, partial cancel, market, replace), `job`,
    `at` (when the broker took it, on the plan's clock), `step_at` (the step's planned
    time, when a step sent it), `qty` and `price` (as sent; null where not known or not
    priced: a market order, a cancel)."""
    kind = "partial cancel" if link.kind == "cancel" and not link.working else link.kind
    step = (planned or {}).get(link.job or "")
    return {
        "ord_no": link.ord_no or None,
        "kind": kind,
        "job": link.job,
        "at": _iso(link.at or link.t),
        "step_at": None if step is None else step.astimezone(SEOUL).isoformat(),
        "qty": link.qty,
        "price": link.price,
    }


def link_text_of(data: dict[str, Any]) -> str:
    """`0000140 (modify 09:30)` from `link_data`: the time is the step's planned time,
    else when it acked."""
    kind = data["kind"]
    if kind in ("place", "adopt"):
        return str(data["ord_no"] or "")
    number = data["ord_no"] or "?"
    when = data["step_at"] or data["at"]
    if not when:
        return f"{number} ({kind})"
    local = dt.datetime.fromisoformat(when).astimezone(SEOUL)
    clock = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
    return f"{number} ({kind} {clock})"


def link_text(link: Link, planned: dict[str, dt.datetime] | None = None) -> str:
    """`0000140 (modify 09:30)`: one number of a lineage for people."""
    return link_text_of(link_data(link, planned))


def state_name(filled: int, remaining: int, ordered: int) -> str:
    """An order's state in the summary from its filled, open and ordered quantities."""
    if remaining:
        return "open" if not filled else "partially filled, open"
    if filled >= ordered:
        return "filled"
    return "partially filled, rest cancelled" if filled else "cancelled"


def summarize(
    *,
    plan: CompiledPlan,
    executor: Executor,
    journal: Journal,
    states: dict[str, str],
    fatal: str | None,
    interrupted: bool,
    internal: bool = False,
    watcher: TriggerWatcher | None = None,
) -> RunResult:
    orders: list[OrderSummary] = []

    unwritten: list[Item] = []  # items the journal could not take (still printed)

    def note(reason: str, text: str, order: str | None = None) -> None:
        rec = {"type": "attention", "reason": reason, "text": text}
        try:
            journal.append(rec | ({"order": order} if order else {}))
        except JournalWriteError:
            unwritten.append(Item(reason=reason, text=text, order=order))

    planned = {job.id: job.at for job in plan.jobs}
    doubtful = {str(rec.get("order")) for _job, _req, rec in journal.state.in_doubt()}
    for order_id, spec in executor.orders.items():
        links = journal.state.lineage.get(order_id, [])
        if not links:
            # A place whose request left without an answer is not "not placed": nobody
            # knows, and it was not sent again.
            state = "in doubt (not found at the broker, not resent)"
            orders.append(
                OrderSummary(
                    order=order_id,
                    symbol=spec.symbol,
                    side=spec.side,
                    lineage=(),
                    ordered=spec.qty or 0,
                    filled=0,
                    remaining=0,
                    state=state if order_id in doubtful else "not placed",
                )
            )
            continue
        doubt, unread, avg = "", False, None
        try:
            st = executor.status(order_id)
            filled, remaining, doubt = st.filled, st.remaining, st.doubt
            avg = st.fill_value // st.filled if st.filled and st.fill_value else None
        except Exception as e:  # the summary must still print
            note("unread", f"{order_id}: could not read its state at the end: {e}", order_id)
            filled, remaining, unread = 0, 0, True
        if doubt:
            note("in-doubt", f"{order_id}: in doubt: {doubt}", order_id)
        ordered = executor.targets.get(order_id) or spec.qty or filled + remaining
        if unread:  # its figures are unknown, not zero: never "cancelled"
            state = "unknown (could not read it at the end)"
        elif doubt:
            state = "in doubt"
        else:
            state = state_name(filled, remaining, ordered)
        orders.append(
            OrderSummary(
                order=order_id,
                symbol=spec.symbol,
                side=spec.side,
                lineage=tuple(link_text(x, planned) for x in links),
                links=tuple(link_data(x, planned) for x in links),
                ordered=ordered,
                filled=filled,
                remaining=remaining,
                state=state,
                avg_fill_price=avg,
            )
        )
    if internal:
        note("stopped", f"run stopped by an internal error: {fatal}")
    elif fatal:
        note("stopped", f"run stopped: {fatal}")
    # One rule (attention.py): the journal's items are the list, in `run` and `status`.
    found = items(journal.state) + unwritten
    found.sort(key=lambda i: (i.reason != "stopped", i.text))
    attention = [item.text for item in found]
    if internal:
        code = ExitCode.INTERNAL
    elif fatal:
        code = ExitCode.ATTENTION
    elif interrupted:
        code = ExitCode.INTERRUPTED
    elif attention:
        code = ExitCode.ATTENTION
    else:
        code = ExitCode.OK
    stats: dict[str, object] = {}
    if watcher is not None and watcher.reaction:
        stats["triggers"] = watcher.reaction
    resizes = (
        {}
        if watcher is None
        else {job: state for job, state in watcher.states.items() if job.startswith("oco:")}
    )
    if resizes:  # one-cancels-other resizes sent this run, each with its outcome
        stats["oco"] = resizes
    return RunResult(
        exit_code=code,
        orders=tuple(orders),
        jobs=dict(states),
        attention=tuple(attention),
        stats=stats,
    )
