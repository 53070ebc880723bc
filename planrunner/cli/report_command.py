"""`report`: the day's report of a plan, as one self-contained HTML file or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planrunner.cli.options import (
    DATE_OPTION,
    EXISTING_FILE,
    JOURNAL_ENV_OPTION,
    PLAN_ARGUMENT,
    SET_OPTION,
    STATE_DIR_OPTION,
    choice_option,
    date_option,
    handled,
    set_values,
    state_dir_of,
)


@click.command()
@PLAN_ARGUMENT
@JOURNAL_ENV_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: beside the journal, .html or .json).",
)
@choice_option(
    "--format",
    "fmt",
    choices=["html", "json"],
    default="html",
    help="html: one self-contained page; json: the same figures as data.",
)
@click.option(
    "--rates",
    "rates_file",
    type=EXISTING_FILE,
    default=None,
    help='Fee and tax rates as JSON, fractions of the value: {"fee": 0.00015, "tax": 0.002} '
    "(over the plan's `rates:` and the shipped table; --fee-rate/--tax-rate over it).",
)
@click.option("--fee-rate", type=float, default=None, help="Brokerage fee, e.g. 0.00015.")
@click.option("--tax-rate", type=float, default=None, help="Tax on sells, e.g. 0.002.")
@SET_OPTION
@DATE_OPTION
@STATE_DIR_OPTION
@handled
def report(
    plan: Path,
    env: str | None,
    out: Path | None,
    fmt: str,
    rates_file: Path | None,
    fee_rate: float | None,
    tax_rate: float | None,
    sets: tuple[str, ...],
    day: str | None,
    state_dir: Path | None,
) -> None:
    """Write the day's report of PLAN from its journal: a chart per symbol, each order's
    lineage, fills, fees, taxes and P&L, and what needs attention. No network."""
    from planrunner.app.report import load_rates, plan_report, render_html
    from planrunner.app.status import journal_day
    from planrunner.plan.rules import load_plan

    params = set_values(sets)
    loaded = load_plan(plan, params)
    where = state_dir_of(state_dir)
    the_day = journal_day(loaded, state_dir=where, day=date_option(day), env=env)
    rates = load_rates(the_day, plan=loaded.rates, file=rates_file, fee=fee_rate, tax=tax_rate)
    fig = plan_report(plan, state_dir=where, day=the_day, env=env, params=params, rates=rates)
    text = (
        json.dumps(fig, ensure_ascii=False, indent=1) + "\n" if fmt == "json" else render_html(fig)
    )
    target = out or Path(fig["journal"]).with_suffix(f".{fmt}")
    target.write_text(text, encoding="utf-8")
    click.echo(str(target))


COMMANDS = (report,)
