"""`validate`, `show`, `diff`, `new`, `schema`: the plan language, no network."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from planrunner.cli.options import (
    FORMAT_OPTION,
    SET_OPTION,
    broker_option,
    date_option,
    handled,
    set_values,
)
from planrunner.errors import ExitCode, PlanError, Problem, UsageError

if TYPE_CHECKING:
    from planrunner.model import CompiledPlan


@click.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@SET_OPTION
@FORMAT_OPTION
@handled
def validate(plans: tuple[str, ...], sets: tuple[str, ...], fmt: str) -> None:
    """Check plan files: every problem of every file, one line each
    (file:line:col: $.json.path: message). Exit 1 if any.

    --format json prints a list of {file, line, col, path, message}."""
    from planrunner.plan.load import paused_gc

    params = set_values(sets)
    problems: list[Problem] = []
    warnings: list[str] = []
    with paused_gc():  # linear in a plan's size (see paused_gc)
        for found, said in _check_all(plans, params):
            problems += found
            warnings += said
    if problems:
        raise PlanError(problems)
    for line in warnings:
        click.echo(line, err=True)
    if fmt == "json":
        click.echo("[]")
    else:
        click.echo(f"{len(plans)} plan{'s' if len(plans) != 1 else ''} valid", err=True)


# From this many files on, validate checks them in worker processes, one per CPU it may
# use: a process starts in ~50 ms, a plan takes ~1 ms (docs/performance.md, Validate).
PARALLEL_FROM = 200


def _check_one(path: str, params: dict[str, str]) -> tuple[list[Problem], list[str]]:
    """One file's problems, and its warnings when it has none."""
    from planrunner.plan.compile import check_loaded
    from planrunner.plan.load import load_file

    compiled, found = check_loaded(load_file(path), params=params)
    if compiled is None or found:
        return found, []
    return found, _warnings(path, compiled)


def _check_all(
    plans: tuple[str, ...], params: dict[str, str]
) -> list[tuple[list[Problem], list[str]]]:
    """`_check_one` for each file, in the files' order. Many files are shared among
    forked workers, after the first is checked here (the schema, calendar and instrument
    table it loads are then inherited, not built again in each worker); what they print
    is collected and printed here, in the same order as one process would."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if len(plans) < PARALLEL_FROM or cpus < 2:
        return [_check_one(path, params) for path in plans]
    import itertools
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    first, rest = plans[0], plans[1:]
    out = [_check_one(first, params)]
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=cpus, mp_context=fork) as pool:
        chunk = max(1, len(rest) // (cpus * 4))
        out += pool.map(_check_one, rest, itertools.repeat(params), chunksize=chunk)
    return out


def _warnings(path: str, compiled: CompiledPlan) -> list[str]:
    """What validate checked on assumptions: a code the instrument table does not know,
    without `instrument:`, is checked on the stock grid (an ETF or ETN has another), and
    a plan day in a year without an exam-day entry may have that day's hours wrong."""
    from planrunner.krx import days, instruments

    undeclared = sorted(
        {
            s.symbol
            for s in compiled.orders.values()
            if s.instrument is None and instruments.known(s.symbol) is None
        }
    )
    out = [
        f"{path}: warning: {code} is not in the instrument table: its prices were checked "
        "as a stock's (declare `instrument: etf`, `etn` or `stock` on its orders)"
        for code in undeclared
    ]
    year = compiled.day.year
    if year not in {d.year for d in days.exam_days()}:
        out.append(
            f"{path}: warning: the calendar has no exam-day (수능) entry for {year}: that "
            f"day's late hours are not known; add it to a calendar file "
            f"({days.CALENDAR_ENV}) once announced"
        )
    return out


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--date", "date_", metavar="YYYY-MM-DD", help="Day to show (default: the plan's).")
@click.option(
    "--start",
    metavar="HH:MM[:SS]",
    help="Run start for +offset times and orders without `at` (default: now, or the open).",
)
@broker_option(
    "Predict the requests for a broker that behaves so (as `planrunner sim --broker`; "
    "README 'Broker behaviours we could not verify'). remainder=cancel: a partial "
    "cancel's rest is listed under the cancel's own number, so later requests name it; "
    "padding=none: an adopted number is sent without leading zeros. The other switches "
    "change no request."
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help=(
        "Predict what `run --scenario FILE` sends: the scenario's `broker:` readings (a "
        "--broker given here wins) and its `start:` (unless --start)."
    ),
)
@SET_OPTION
@FORMAT_OPTION
@handled
def show(**options: Any) -> None:
    """The day's timeline: every job with its time (Asia/Seoul), order, action and the
    exact request (api-id and body), then every trigger. No network.

    Order numbers not known yet are shown as <entry@N>: the number the N-th request on
    order `entry` returns; each request names the number that holds the order then (after
    a partial cancel: the number it cancelled from, or with --broker remainder=cancel the
    cancel's own). --scenario FILE predicts what `run --scenario FILE` sends (its broker
    readings and clock start). --format json: {plan, file, date, timezone, run_start, broker, jobs:
    [{id, at, at_text, order, action, summary, requests: [{api_id, body}]}], triggers:
    [{id, when, between, repeat, order, action, summary, requests}], policy}."""
    from planrunner.plan.load import paused_gc

    scenario = options.pop("scenario")
    if scenario is not None:
        from planrunner.sim import load_scenario

        story = load_scenario(scenario)
        # The scenario's readings first: a --broker given on the command line wins.
        options["broker"] = (*(f"{k}={v}" for k, v in story.broker.items()), *options["broker"])
        if options["start"] is None and story.start is not None:
            options["start"] = story.start.isoformat()
    with paused_gc():  # linear in a plan's size (see paused_gc)
        _show(**options)  # its parameters are the options above


def _show(
    plan: str,
    date_: str | None,
    start: str | None,
    broker: tuple[str, ...],
    sets: tuple[str, ...],
    fmt: str,
) -> None:
    import datetime as dt

    from planrunner.krx import days
    from planrunner.plan.compile import compile_file
    from planrunner.plan.show import as_dict, as_text
    from planrunner.sim.behaviour import Behaviour, BehaviourError

    try:
        reading = Behaviour.parse(broker)
    except BehaviourError as e:
        raise UsageError(str(e)) from None
    day = date_option(date_)
    run_start = None
    if start is not None:
        try:
            clock = dt.time.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 09:00 or 09:00:30") from None
        if day is None:
            from planrunner.plan.rules import load_plan

            day = load_plan(plan, set_values(sets)).date or days.default_plan_date()
        run_start = dt.datetime.combine(day, clock, tzinfo=days.SEOUL)
    compiled = compile_file(
        plan,
        day=day,
        run_start=run_start,
        params=set_values(sets),
        remainder=reading.remainder,
        padding=reading.padding,
    )
    changed = reading.changed()
    if fmt == "json":
        data = as_dict(compiled) | {"broker": changed}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(as_text(compiled, broker=changed), nl=False)


def _read(path: str) -> str | None:
    """A plan file's text; None for git's /dev/null (a plan added or deleted)."""
    from pathlib import Path

    if path == "/dev/null":
        return None
    from planrunner.plan.load import read_plan_bytes

    try:  # a regular file of bounded size: a FIFO or /dev/zero is refused, not read
        return read_plan_bytes(Path(path)).decode("utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except ValueError as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def _git_text(plan: str, rev: str) -> str:
    """The plan file as it is at git revision `rev`."""
    import subprocess
    from pathlib import Path

    p = Path(plan).resolve()
    try:
        done = subprocess.run(
            ["git", "-C", str(p.parent), "show", f"{rev}:./{p.name}"],
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise UsageError(f"cannot run git: {e.strerror}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"{plan} at {rev}: " + (why[-1] if why else "git show failed"))
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{plan} at {rev} is not UTF-8 text") from None


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="OLD NEW | PLAN [REV]")
@click.option(
    "--date", "date_", metavar="YYYY-MM-DD", help="Day to compare on (default: the new plan's)."
)
@click.option(
    "--start",
    metavar="HH:MM[:SS]",
    help="Run start for +offset times and orders without `at` (default: the open).",
)
@SET_OPTION
@FORMAT_OPTION
@handled
def diff(
    args: tuple[str, ...], date_: str | None, start: str | None, sets: tuple[str, ...], fmt: str
) -> None:
    """What a plan change does to the day's broker requests: jobs added (+), removed (-)
    and changed (~, with the request fields that change), trigger and policy changes.

    planrunner diff OLD NEW compares two files; planrunner diff PLAN [REV] compares the
    file with its version at a git revision (default HEAD; a second argument that names an
    existing file is a file). Exit 0 when the timelines are equal, 1 when they differ (or
    a plan is invalid).

    As a git diff driver (git passes seven arguments; the exit code is then 0):
    echo 'plans/*.yaml diff=planrunner' >> .gitattributes;
    git config diff.planrunner.command 'planrunner diff'"""
    import datetime as dt
    import difflib
    import os

    from planrunner.krx import days
    from planrunner.plan import diff as d

    driver = len(args) in (7, 9)
    if driver:  # git: path old-file old-hex old-mode new-file new-hex new-mode [new-path info]
        path, old_file, old_hex, _, new_file, new_hex = args[:6]
        old_label = "/dev/null" if old_file == "/dev/null" else f"{path} ({old_hex[:7]})"
        new_label = (
            "/dev/null"
            if new_file == "/dev/null"
            else path
            if set(new_hex) <= {"0", "."}
            else f"{path} ({new_hex[:7]})"
        )
        old_text, new_text = _read(old_file), _read(new_file)
    elif len(args) == 2 and os.path.exists(args[1]):
        old_label, new_label = args
        old_text, new_text = _read(args[0]), _read(args[1])
    elif len(args) in (1, 2):
        rev = args[1] if len(args) == 2 else "HEAD"
        old_label, new_label = f"{args[0]} ({rev})", args[0]
        new_text = _read(args[0])
        old_text = _git_text(args[0], rev)
    else:
        raise UsageError("diff takes OLD NEW, or PLAN [REV]")
    day = (
        date_option(date_)
        or d.written_date(new_text)
        or d.written_date(old_text)
        or days.default_plan_date()
    )
    run_start = None
    if start is not None:
        try:
            run_start = dt.datetime.combine(day, dt.time.fromisoformat(start), tzinfo=days.SEOUL)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 09:00 or 09:00:30") from None
    from planrunner.plan.load import paused_gc

    try:
        params = set_values(sets)
        with paused_gc():  # linear in a plan's size (see paused_gc)
            old = d.compile_text(old_text, old_label, day=day, run_start=run_start, params=params)
            new = d.compile_text(new_text, new_label, day=day, run_start=run_start, params=params)
    except PlanError as e:
        if not driver:
            raise
        # git log -p must go on: say why, then show the text difference.
        for p in e.problems:
            click.echo(str(p))
        click.echo(f"(not a valid plan on {day.isoformat()}: the text difference follows)")
        click.echo(
            "".join(
                difflib.unified_diff(
                    (old_text or "").splitlines(keepends=True),
                    (new_text or "").splitlines(keepends=True),
                    old_label,
                    new_label,
                )
            ),
            nl=False,
        )
        return
    result = d.compare(old, new, day)
    if fmt == "json":
        click.echo(json.dumps(d.as_dict(result), ensure_ascii=False, indent=2))
    else:
        click.echo(d.as_text(result), nl=False)
    if not result.equal and not driver:
        raise SystemExit(ExitCode.DIFFERENT)


@click.command()
@click.argument("template", required=False)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="A template value (repeatable)."
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option(
    "--date",
    "date_",
    metavar="YYYY-MM-DD",
    help="Day to check the plan on (default: today if a trading day, else the next).",
)
@FORMAT_OPTION
@handled
def new(
    template: str | None,
    file: str | None,
    sets: tuple[str, ...],
    force: bool,
    date_: str | None,
    fmt: str,
) -> None:
    """Write a commented plan from a template, with --set values filled in; it is checked
    as validate would before it is written (problems: file:line:col, exit 1, nothing
    written). Without TEMPLATE: the templates and their values. Without FILE: to stdout."""
    from pathlib import Path

    from planrunner.plan import new as templates

    if template is None:
        listed = [templates.template(n) for n in templates.names()]
        if fmt == "json":
            data = [{"template": t.name, "about": t.about, "values": t.defaults} for t in listed]
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        for t in listed:
            click.echo(f"{t.name}: {t.about}")
            click.echo("    " + " ".join(f"{k}={v}" for k, v in t.defaults.items()))
        return
    if file is not None and Path(file).exists() and not force:
        raise UsageError(f"{file} exists: choose another name, or --force to overwrite it")
    text = templates.render(
        template, templates.parse_sets(sets), file=file or "<new plan>", day=date_option(date_)
    )
    if file is None:
        click.echo(text, nl=False)
        return
    Path(file).write_text(text, encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps({"file": file, "template": template}))
    else:
        click.echo(f"{file}: written from template {template}; planrunner show {file}", err=True)


@click.command()
@handled
def schema() -> None:
    """Print the plan JSON Schema (for editors and check-jsonschema)."""
    from planrunner.plan.schema import schema_text

    click.echo(schema_text(), nl=False)


COMMANDS = (validate, show, diff, new, schema)
