"""`validate`, `show`, `schema`: the plan language, no network."""

from __future__ import annotations

import json

import click

from planrunner.cli.options import FORMAT_OPTION, date_option, handled
from planrunner.errors import PlanError, UsageError


@click.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@FORMAT_OPTION
@handled
def validate(plans: tuple[str, ...], fmt: str) -> None:
    """Check plan files: every problem of every file, one line each
    (file:line:col: $.json.path: message). Exit 1 if any.

    --format json prints a list of {file, line, col, path, message}."""
    from planrunner.plan.compile import check_file

    problems = [p for path in plans for p in check_file(path)]
    if problems:
        raise PlanError(problems)
    if fmt == "json":
        click.echo("[]")
    else:
        click.echo(f"{len(plans)} plan{'s' if len(plans) != 1 else ''} valid", err=True)


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--date", "date_", metavar="YYYY-MM-DD", help="Day to show (default: the plan's).")
@click.option(
    "--start",
    metavar="HH:MM[:SS]",
    help="Run start for +offset times and orders without `at` (default: now, or the open).",
)
@FORMAT_OPTION
@handled
def show(plan: str, date_: str | None, start: str | None, fmt: str) -> None:
    """The day's timeline: every job with its time (Asia/Seoul), order, action and the
    exact request (api-id and body), then every trigger. No network.

    Order numbers not known yet are shown as <entry@N>: the number the N-th request on
    order `entry` returns. --format json: {plan, file, date, timezone, run_start, jobs:
    [{id, at, at_text, order, action, summary, requests: [{api_id, body}]}], triggers:
    [{id, when, between, repeat, order, action, summary, requests}], policy}."""
    import datetime as dt

    from planrunner.krx import days
    from planrunner.plan.compile import compile_file
    from planrunner.plan.show import as_dict, as_text

    day = date_option(date_)
    run_start = None
    if start is not None:
        try:
            clock = dt.time.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 09:00 or 09:00:30") from None
        if day is None:
            from planrunner.plan.rules import load_plan

            day = load_plan(plan).date or days.default_plan_date()
        run_start = dt.datetime.combine(day, clock, tzinfo=days.SEOUL)
    compiled = compile_file(plan, day=day, run_start=run_start)
    if fmt == "json":
        click.echo(json.dumps(as_dict(compiled), ensure_ascii=False, indent=2))
    else:
        click.echo(as_text(compiled), nl=False)


@click.command()
@handled
def schema() -> None:
    """Print the plan JSON Schema (for editors and check-jsonschema)."""
    from planrunner.plan.schema import schema_text

    click.echo(schema_text(), nl=False)


COMMANDS = (validate, show, schema)
