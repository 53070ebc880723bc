"""`planrunner cancel-all`: the kill switch. Stop the plan's runner, then cancel every
order of the plan that is still open at the broker, by its newest number.

The runner is stopped first (SIGTERM to the pid holding the journal's lock; it finishes the
request in flight and leaves a consistent journal), so nothing races the cancels. The
cancels go through the same journal-first executor as any step, under job ids
`cancel-all@<time>:<order>`, and requests in doubt are reconciled before anything is sent.
It acts only on numbers its own journal owns: a number another journal of the state
directory also owns is refused, and a request still in doubt is reported (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from planrunner.app.identity import real_clock_day
from planrunner.app.several import ACK_SECONDS, stop_request
from planrunner.app.targets import build_remote, keys_from_env
from planrunner.clock import SEOUL
from planrunner.engine.attention import doubts
from planrunner.engine.events import INFO, Emit, Event
from planrunner.engine.execute import Executor, InDoubt
from planrunner.engine.journal import Journal, holder_pid, journal_path
from planrunner.engine.outcome import Kind
from planrunner.engine.reconcile import foreign_numbers, reconcile
from planrunner.errors import ExitCode, RunError, UsageError
from planrunner.kiwoom.types import ord_key
from planrunner.model import Cancel
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan

STOP_WAIT_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAllResult:
    exit_code: int
    stopped_pid: int | None
    outcomes: dict[str, str]  # order -> "cancelled 6" / "skipped (filled)" / …


def stop_runner(jpath: Path, emit: Emit) -> int | None:
    """Stop the runner holding the journal's lock; wait until the lock is free.

    First a stop request for this plan alone (app/several.py): a process running several
    plans stops this one and goes on with the others. A runner that does not take the
    request within ACK_SECONDS (an older one, or one too busy to look) gets SIGTERM,
    which stops every plan it runs."""
    pid = holder_pid(jpath)
    if pid is None:
        return None
    if pid <= 0:
        raise RunError(f"a runner holds {jpath} but its pid is unreadable: stop it by hand")
    now = dt.datetime.now(SEOUL)
    request = stop_request(jpath.parent, pid)
    with contextlib.suppress(OSError):
        request.write_bytes(b"")
    deadline = time.monotonic() + ACK_SECONDS
    while request.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if request.exists():
        with contextlib.suppress(OSError):
            request.unlink()
        emit(Event(kind=INFO, at=now, message=f"stopping runner pid {pid}"))
        os.kill(pid, signal.SIGTERM)
    else:
        emit(Event(kind=INFO, at=now, message=f"stopping this plan in runner pid {pid}"))
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while holder_pid(jpath) is not None:
        if time.monotonic() > deadline:
            raise RunError(f"runner pid {pid} did not stop within {STOP_WAIT_SECONDS:.0f}s")
        time.sleep(0.05)
    return pid


def cancel_all(
    path: Path,
    *,
    state_dir: Path,
    live: bool,
    base_url: str | None,
    day: dt.date | None,
    emit: Emit,
    params: dict[str, str] | None = None,
) -> CancelAllResult:
    plan = load_plan(path, params)
    appkey, secret = keys_from_env()
    target = build_remote(
        live=live, base_url=base_url, state_dir=state_dir, appkey=appkey, secret=secret
    )
    try:
        the_day = real_clock_day(plan, day)
        jpath = journal_path(state_dir, plan.journal_name, the_day, target.env)
        if not jpath.exists():
            raise UsageError(
                f"no journal for {plan.name} on {the_day} ({jpath}): nothing to cancel"
            )
        stopped = stop_runner(jpath, emit)
        journal = Journal(jpath)
        state = journal.open()
        try:
            compiled = compile_plan(plan, day=the_day, run_start=state.run_start, closed_ok=True)
            ex = Executor(
                plan=compiled,
                client=target.client,
                journal=journal,
                clock=target.clock,
                emit=emit,
                enforce_session=False,
            )
            reconcile(journal=journal, client=target.client, clock=target.clock, emit=emit)
            # Each use of the kill switch is its own set of jobs (a second one must look at
            # the broker again, not find the first one's cancels done).
            stamp = f"{target.clock.now():%H%M%S.%f}-{os.getpid()}"
            outcomes: dict[str, str] = {}
            attention: set[str] = set()  # orders whose outcome makes the exit 2
            why = doubts(state.records)
            for job_id, req, rec in state.in_doubt():
                order = str(rec.get("order"))
                attention.add(order)
                said = why.get((job_id, req), "its order was not found at the broker")
                outcomes[order] = (
                    f"in doubt: a request on it has an unknown outcome ({said}); nothing "
                    "cancelled (check the broker's order list)"
                )
            foreign = foreign_numbers(journal)
            for order in sorted(state.lineage):
                if order not in ex.orders or order in outcomes:
                    continue
                newest = state.newest(order)
                owner = foreign.get(ord_key(newest)) if newest is not None else None
                if owner is not None:  # 0000123 in one journal is 00123 in another
                    attention.add(order)
                    outcomes[order] = (
                        f"refused: {newest} is also owned by {owner}; "
                        "nothing cancelled (check which plan placed it)"
                    )
                    continue
                try:
                    outcome = ex.execute(f"cancel-all@{stamp}:{order}", Cancel(order=order))
                except InDoubt as e:
                    attention.add(order)
                    outcomes[order] = f"unknown ({e})"
                    continue
                outcomes[order] = "cancelled" if outcome.kind is Kind.DONE else str(outcome)
                if outcome.needs_attention:
                    attention.add(order)
            bad = bool(attention)
            return CancelAllResult(
                exit_code=ExitCode.ATTENTION if bad else ExitCode.OK,
                stopped_pid=stopped,
                outcomes=outcomes,
            )
        finally:
            journal.close()
    finally:
        target.client.close()
