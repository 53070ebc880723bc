"""`run`, `status`, `cancel-all`: the runner and its journal."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from planrunner.cli.options import (
    DATE_OPTION,
    EXISTING_FILE,
    FORMAT_OPTION,
    JOURNAL_ENV_OPTION,
    PLAN_ARGUMENT,
    SET_OPTION,
    STATE_DIR_OPTION,
    date_option,
    error_text,
    handled,
    set_values,
    state_dir_of,
)
from planrunner.errors import PlanrunnerError, UsageError
from planrunner.redact import redact

_BROKEN: set[bool] = set()  # streams found closed (err=True: stderr), printed no more


def _silence(err: bool) -> None:
    """A closed or broken stream: its descriptor now points at /dev/null, so no later
    write or the flush at exit fails again (nor prints "Exception ignored")."""
    _BROKEN.add(err)
    stream = sys.stderr if err else sys.stdout
    with contextlib.suppress(OSError, ValueError):  # no descriptor (in memory): nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


def say(text: str, *, err: bool = False, strict: bool = False) -> None:
    """Print a line with keys and tokens blanked. Output is never what stops a run: a
    failure closes the stream for good and is raised only when `strict`."""
    if err in _BROKEN:
        return
    try:
        click.echo(redact(text), err=err)
    except (OSError, ValueError):  # EPIPE, EIO, a closed file
        _silence(err)
        if strict:
            raise


def _event_printer(fmt: str) -> Callable[[Any], None]:
    """One line per event as it happens: text for people, JSON lines for machines. A
    failure to print is raised once (the run journals it and stops printing)."""
    from planrunner.app.text import event_line

    def emit(event: Any) -> None:
        if fmt == "json":
            say(json.dumps(event.as_dict(), ensure_ascii=False, default=str), strict=True)
        else:
            say(event_line(event), strict=True)

    return emit


@click.command()
@click.argument("plans", nargs=-1, required=True, metavar="PLAN...")
@click.option("--sim", "mode", flag_value="sim", default=True, help="Embedded simulator (default).")
@click.option("--dry-run", "mode", flag_value="dry-run", help="Kiwoom's mock domain, real clock.")
@click.option("--live", "mode", flag_value="live", help="Kiwoom's live domain: real money.")
@click.option("--speed", type=float, default=None, help="--sim: virtual seconds per real second.")
@click.option(
    "--scenario",
    type=EXISTING_FILE,
    default=None,
    help="--sim: price path and fill behaviour (YAML).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="--sim: random seed.")
@click.option("--base-url", default=None, help="--dry-run: any Kiwoom-compatible server.")
@click.option(
    "--adopt",
    multiple=True,
    metavar="[PLAN:]ID=ORD_NO",
    help="Take over an order already at the broker (PLAN: the plan's name, when several "
    "plans have an order ID).",
)
@click.option("--yes", is_flag=True, help="--live: skip the typed confirmation.")
@click.option("--allow-dirty", is_flag=True, help="--live: allow a plan with uncommitted changes.")
@SET_OPTION
@click.option(
    "--fresh",
    is_flag=True,
    help="Start a new journal for the day; the old one is kept beside it (its orders are "
    "no longer managed).",
)
@click.option(
    "--resume-changed",
    is_flag=True,
    help="The plan changed since the day's journal was started: go on with it (jobs that "
    "already acted stay done and are never repeated).",
)
@click.option(
    "--notify",
    multiple=True,
    metavar="URL",
    help="Send fills, rejections, triggers, market switches, what needs attention and the "
    "end to this URL (apprise's form: tgram://TOKEN/CHAT_ID, discord://…, json://host/path; "
    "repeatable). Sending never delays an order.",
)
@click.option(
    "--feed/--no-feed",
    default=True,
    help="Prices and order events from the broker's WebSocket (Kiwoom's real-time feed, "
    "the default in every mode; --sim serves the embedded simulator's): triggers react to "
    "each pushed price, fills print as they happen. While the socket is down (or a server "
    "has none) prices and orders are polled within the rate limits, said once. --no-feed: "
    "poll only.",
)
@click.option(
    "--rate-limit",
    type=click.Choice(["mock", "live", "off"]),
    default=None,
    help="The client's request budget: mock (1/s per api-id, burst 2; 3/s overall), live "
    "(3/s per api-id; 8/s overall) or off. Default: the domain's own; off against a "
    "server on this machine.",
)
@click.option(
    "--no-report",
    is_flag=True,
    help="--sim: do not write the day's report (HTML) beside the journal.",
)
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def run(
    plans: tuple[str, ...],
    mode: str,
    speed: float | None,
    scenario: Path | None,
    seed: int,
    base_url: str | None,
    adopt: tuple[str, ...],
    yes: bool,
    allow_dirty: bool,
    sets: tuple[str, ...],
    fresh: bool,
    resume_changed: bool,
    notify: tuple[str, ...],
    feed: bool,
    rate_limit: str | None,
    no_report: bool,
    day: str | None,
    state_dir: Path | None,
    fmt: str,
) -> None:
    """Run PLAN: place, modify and cancel orders at their times and on their triggers.

    Several plans (`run a.yaml b.yaml`, or a quoted pattern 'plans/*.yaml') run in one
    process on one token, one rate limiter (orders before reads, whatever the plan) and
    one feed; each keeps its own journal, lock and summary, its output lines start with
    [its name], the run ends on one board (a row per plan: orders, filled/ordered,
    average fill price, open, state, exit code), and the exit code is the worst of
    theirs. One process per app key: a
    second `run` on the same key (on Kiwoom or --base-url) is refused; run the plans
    together instead.

    A run on a plan whose day already has a journal resumes it. If the plan file or its
    content changed since, the run shows what changed and refuses (exit 2) unless
    --resume-changed or --fresh says how to go on.

    
    Exit: 0 every job did its work or skipped routinely (the order filled or is gone);
    2 anything under "needs attention": a skip for another reason (late, session closed,
    limits, max_order_value), a rejection, a failure, an outcome left unknown, an order in
    doubt (the broker's lists and the quantities disagree), an end state it could not
    read, a run stopped early; 3 internal error; 130 interrupted. Each item is recorded
    in the journal with its reason; `planrunner status` shows the same list and exits
    the same way (2 when it lists any item).
    """
    import signal
    import threading

    from planrunner.app.launch import RunOptions, run_plan
    from planrunner.app.several import expand
    from planrunner.app.text import summary_json, summary_lines

    _BROKEN.clear()

    paths = expand(plans)
    if base_url and mode != "dry-run":
        raise UsageError("--base-url goes with --dry-run")
    if fresh and resume_changed:
        raise UsageError("--fresh and --resume-changed exclude each other: choose one")
    if mode != "sim" and (speed is not None or scenario is not None):
        raise UsageError("--speed and --scenario go with --sim")
    if rate_limit is not None and mode == "sim":
        raise UsageError("--rate-limit goes with --dry-run or --live")
    adoptions = _adoptions(adopt)
    if len(paths) == 1 and any(where for _, _, where in adoptions):
        raise UsageError("--adopt PLAN:ID=ORD_NO is for several plans; write ID=ORD_NO")
    if mode == "live" and not yes:
        names = " ".join(p.name for p in paths)
        if not sys.stdin.isatty():
            raise UsageError("--live needs a typed confirmation on a terminal, or --yes")
        what = "plan file name" if len(paths) == 1 else "plan file names, in order"
        typed = click.prompt(
            f"LIVE trading with real money. Type the {what} ({names}) to go on",
            default="",
            show_default=False,
        )
        if " ".join(typed.split()) != names:
            raise UsageError("not confirmed: nothing was sent")
    opts = RunOptions(
        mode=mode,
        state_dir=state_dir_of(state_dir),
        date=date_option(day),
        speed=speed,
        scenario=scenario,
        seed=seed,
        base_url=base_url,
        allow_dirty=allow_dirty,
        adopt=tuple((oid, no) for oid, no, _ in adoptions),
        params=set_values(sets),
        fresh=fresh,
        resume_changed=resume_changed,
        notify=notify,
        feed=feed,
        rate_limit=rate_limit,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()  # first: a broken stderr must not keep the run from stopping
        say("stopping: letting requests in flight finish…", err=True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with _one_process_per_key(opts, paths) as hold:
        opts = dataclasses.replace(opts, key_hold=hold)
        if len(paths) > 1:
            _run_several(paths, opts, adoptions, stop, fmt)
        plan = paths[0]
        with _stop_requests(plan, opts, stop):
            result = run_plan(plan, opts, emit=_event_printer(fmt), stop=stop)
    if fmt == "json":
        say(json.dumps(summary_json(result), ensure_ascii=False, default=str))
    else:
        for line in summary_lines(result):
            say(line)
    if mode == "sim" and not no_report:
        _write_report(plan, opts, to_stderr=fmt == "json")
    _flush()
    sys.exit(result.exit_code)


def _flush() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _silence(False)


def _adoptions(adopt: tuple[str, ...]) -> list[tuple[str, str, str | None]]:
    """`--adopt [PLAN:]ID=ORD_NO` values as (order id, 7-digit ord_no, plan name)."""
    out = []
    for item in adopt:
        head, sep, ord_no = item.partition("=")
        where, colon, order_id = head.rpartition(":")
        digits = ord_no.isascii() and ord_no.isdigit() and len(ord_no.lstrip("0")) <= 7
        if not sep or not digits or not order_id or (colon and not where):
            raise UsageError(
                f"--adopt {item!r}: write it as ID=ORD_NO, e.g. hedge=0000139 "
                "(with several plans, NAME:ID=ORD_NO names the plan)"
            )
        # the broker's 7 digits: 1, 0000001 and 00000001 are one order
        out.append((order_id, ord_no.lstrip("0").zfill(7), where or None))
    return out


@contextlib.contextmanager
def _stop_requests(plan: Path, opts: Any, stop: Any) -> Any:
    """A run on a real clock takes cancel-all's stop request (app/several.py)."""
    if opts.mode == "sim":
        yield
        return
    import threading

    from planrunner.app.several import StopRequests
    from planrunner.plan.rules import load_plan

    name = load_plan(plan, opts.params, defer_unknown_kinds=True).journal_name
    with StopRequests({opts.state_dir / name: stop}, threading.Event()):
        yield


@contextlib.contextmanager
def _one_process_per_key(opts: Any, paths: list[Path]) -> Any:
    """A run on Kiwoom or --base-url holds its app key's lock (app/several.py)."""
    if opts.mode == "sim":
        yield None
        return
    from planrunner.app.several import hold_key
    from planrunner.app.targets import keys_from_env

    appkey, _ = keys_from_env()
    env = "live" if opts.mode == "live" else "mock"
    with hold_key(opts.state_dir, env, appkey, paths) as hold:
        yield hold


def _run_several(
    paths: list[Path],
    opts: Any,
    adoptions: list[tuple[str, str, str | None]],
    stop: Any,
    fmt: str,
) -> None:
    """Several plans in one process: lines prefixed by plan, one board at the end, the
    worst exit code."""
    from dataclasses import replace

    from planrunner.app.several import Member, members, run_several, worst
    from planrunner.app.text import (
        board_lines,
        board_row,
        event_line,
        exit_reason,
        summary_json,
        summary_lines,
    )
    from planrunner.engine.events import RunResult

    group = members(paths, opts.params, adoptions)
    opts = replace(opts, adopt=())

    def emit_for(member: Member) -> Callable[[Any], None]:
        def emit(event: Any) -> None:
            if fmt == "json":
                data = {"plan": member.name, **event.as_dict()}
                say(json.dumps(data, ensure_ascii=False, default=str), strict=True)
            else:
                say(f"[{member.name}] {event_line(event)}", strict=True)

        return emit

    def announce(event: Any) -> None:
        """What concerns every plan of the process (the shared feed), said once."""
        if fmt == "json":
            data = {"plan": None, "plans": [m.name for m in group], **event.as_dict()}
            say(json.dumps(data, ensure_ascii=False, default=str))
        else:
            say(f"[all plans] {event_line(event)}")

    def on_error(member: Member, exc: BaseException) -> int:
        code, text = error_text(exc, opts.state_dir)
        text = redact(text)
        if fmt == "json":
            say(json.dumps({"plan": member.name, "error": text, "exit_code": code}))
        else:
            say(f"[{member.name}] error: {text}", err=True)
        return code

    results = run_several(
        group, opts, emit_for=emit_for, on_error=on_error, stop=stop, announce=announce
    )
    plans: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for member in group:
        got = results.get(member.name, 3)
        if isinstance(got, RunResult):
            plans.append({"plan": member.name, "exit_code": got.exit_code, **summary_json(got)})
            orders = [o.as_dict() for o in got.orders]
            rows.append(
                board_row(
                    member.name, orders, attention=len(got.attention), exit_code=got.exit_code
                )
            )
            if fmt != "json":  # the plan's own details: its orders, jobs, triggers, items
                say(f"== {member.name} ({member.path})")
                for line in summary_lines(got, exit_line=False):
                    say(line)
        else:
            plans.append({"plan": member.name, "exit_code": got})
            rows.append(board_row(member.name, [], attention=0, exit_code=got, error="see above"))
    code = worst(r["exit_code"] for r in rows)
    if fmt == "json":
        data = {"plans": plans, "board": rows, "exit_code": code, "why": exit_reason(code, rows)}
        say(json.dumps(data, ensure_ascii=False, default=str))
    else:
        for line in board_lines(rows, code):
            say(line)
    _flush()
    sys.exit(code)


def _write_report(plan: Path, opts: Any, *, to_stderr: bool) -> None:
    """A rehearsal's report beside its journal; a failure to write it is said, and never
    changes the run's exit code. With --format json the path goes to stderr."""
    from planrunner.app.report import plan_report, render_html
    from planrunner.errors import PlanrunnerError

    try:
        fig = plan_report(
            plan, state_dir=opts.state_dir, day=opts.date, env="sim", params=opts.params
        )
        path = Path(fig["journal"]).with_suffix(".html")
        path.write_text(render_html(fig), encoding="utf-8")
    except (OSError, PlanrunnerError) as e:
        say(f"the report could not be written: {e}", err=True)
        return
    say(f"report: {path}", err=to_stderr)


@click.command()
@click.argument("plans", nargs=-1, required=True, metavar="PLAN...")
@JOURNAL_ENV_OPTION
@SET_OPTION
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def status(
    plans: tuple[str, ...],
    env: str | None,
    sets: tuple[str, ...],
    day: str | None,
    state_dir: Path | None,
    fmt: str,
) -> None:
    """Show from the journal each job's state, each order's lineage, and what needs attention.

    The list and the state names are the run's own (the same rule: see `run --help`).
    Several plans (or a quoted pattern) are shown one after the other, each under
    `== name`, then one board with a row per plan (as `run` of several plans ends);
    with --format json, as {"plans": [...], "board": [...]}.

    \b
    Exit: 0 nothing needs attention; 2 something is listed under "needs attention" (as
    the run that wrote the journal exits), or no journal for the plan and day.
    """
    from planrunner.app.several import expand, worst
    from planrunner.app.status import plan_status
    from planrunner.app.text import board_lines, board_row, exit_reason, status_lines

    paths = expand(plans)

    def one(plan: Path) -> dict[str, Any]:
        return plan_status(
            plan,
            state_dir=state_dir_of(state_dir),
            day=date_option(day),
            env=env,
            params=set_values(sets),
        )

    if len(paths) == 1:
        data = one(paths[0])
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False, default=str))
        else:
            click.echo(f"{data['journal']}")
            for line in status_lines(data):
                click.echo(line)
        if data["attention"]:
            sys.exit(2)  # the run's rule: any item needs attention
        return
    shown: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for plan in paths:
        try:
            data = {"file": str(plan), **one(plan)}
        except PlanrunnerError as e:
            failed, text = error_text(e, state_dir)
            shown.append({"file": str(plan), "error": redact(text), "exit_code": failed})
            rows.append(board_row(str(plan), [], attention=0, exit_code=failed, error="see above"))
            if fmt != "json":
                click.echo(f"== {plan}\nerror: {redact(text)}")
            continue
        shown.append(data)
        found = len(data["attention"])
        mine = 2 if found else 0
        rows.append(board_row(data["plan"], data["orders"], attention=found, exit_code=mine))
        if fmt != "json":
            click.echo(f"== {plan}\n{data['journal']}")
            for line in status_lines(data):
                click.echo(line)
    code = worst(r["exit_code"] for r in rows)
    if fmt == "json":
        out = {"plans": shown, "board": rows, "exit_code": code, "why": exit_reason(code, rows)}
        click.echo(json.dumps(out, ensure_ascii=False, default=str))
    else:
        for line in board_lines(rows, code):
            click.echo(line)
    sys.exit(code)


@click.command("cancel-all")
@PLAN_ARGUMENT
@click.option("--dry-run", "mode", flag_value="dry-run", help="The plan ran on the mock domain.")
@click.option("--live", "mode", flag_value="live", help="The plan ran on the live domain.")
@click.option("--base-url", default=None, help="--dry-run: the server the plan ran against.")
@SET_OPTION
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def cancel_all_cmd(
    plan: Path,
    mode: str | None,
    base_url: str | None,
    sets: tuple[str, ...],
    day: str | None,
    state_dir: Path | None,
    fmt: str,
) -> None:
    """Kill switch: stop PLAN's runner and cancel every order of it still open."""
    from planrunner.app.cancel_all import cancel_all

    if mode is None:
        raise UsageError("say where the plan runs: --dry-run (mock domain or --base-url) or --live")
    if base_url and mode != "dry-run":
        raise UsageError("--base-url goes with --dry-run")

    from planrunner.engine.events import steady

    _BROKEN.clear()

    emit = steady(_event_printer(fmt), lambda exc: None)  # the kill switch goes on regardless

    result = cancel_all(
        plan,
        state_dir=state_dir_of(state_dir),
        live=mode == "live",
        base_url=base_url,
        day=date_option(day),
        emit=emit,
        params=set_values(sets),
    )
    if fmt == "json":
        say(
            json.dumps(
                {
                    "stopped_pid": result.stopped_pid,
                    "orders": result.outcomes,
                    "exit_code": result.exit_code,
                },
                ensure_ascii=False,
            )
        )
    else:
        if result.stopped_pid:
            say(f"stopped runner pid {result.stopped_pid}")
        for order, outcome in result.outcomes.items():
            say(f"{order}: {outcome}")
        if not result.outcomes:
            say("no orders of this plan reached the broker")
    sys.exit(result.exit_code)


COMMANDS = (run, status, cancel_all_cmd)
