"""The command line: the only module that prints or exits.

Commands are thin: they call library functions and format what comes back. One error
handler maps failures to exit codes (DESIGN.md §7): 0 ok, 1 plan invalid or usage,
2 broker/runtime failure, 3 internal error (traceback kept in a log file), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from planrunner import __version__
from planrunner.errors import BrokerError, PlanError, RunError, UsageError

EXIT_OK = 0
EXIT_PLAN = 1
EXIT_RUNTIME = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output for people (text) or machines (json).",
)


def _log_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "planrunner" / "logs"


def _write_crash_log() -> Path:
    import tempfile
    import traceback

    try:
        d = _log_dir()
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="crash-", suffix=".log", dir=d)
    except OSError:
        fd, name = tempfile.mkstemp(prefix="planrunner-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"planrunner {__version__}\nargv: {sys.argv!r}\n\n")
        f.write(traceback.format_exc())
    return Path(name)


def fail(message: str, code: int, fmt: str = "text") -> NoReturn:
    if fmt == "json":
        click.echo(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def error_handler(fmt: str = "text") -> Iterator[None]:
    """Map every failure to its exit code; bugs get a log file instead of a bare traceback."""
    try:
        yield
    except PlanError as e:
        if fmt == "json":
            click.echo(json.dumps([p.as_dict() for p in e.problems], ensure_ascii=False))
        else:
            for p in e.problems:
                click.echo(str(p))
        sys.exit(EXIT_PLAN)
    except UsageError as e:
        fail(str(e), EXIT_PLAN, fmt)
    except (RunError, BrokerError) as e:
        fail(str(e), EXIT_RUNTIME, fmt)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (SystemExit, click.exceptions.Exit, click.ClickException):
        raise
    except Exception as e:
        log = _write_crash_log()
        fail(f"internal error: {type(e).__name__}: {e} (traceback in {log})", EXIT_INTERNAL, fmt)


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command body in the error handler, honouring its --format."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with error_handler(kwargs.get("fmt", "text")):
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planrunner")
def cli() -> None:
    """Run declarative YAML order plans against Kiwoom Securities' REST API."""


# ---- validate / show / schema (plan language) -------------------------------------------


def _parse_day(value: str | None) -> Any:
    if value is None:
        return None
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r}: write it like 2026-11-26") from None


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@FORMAT_OPTION
@handled
def validate(plans: tuple[str, ...], fmt: str) -> None:
    """Check plan files: every problem of every file, one line each
    (file:line:col: $.json.path: message). Exit 1 if any.

    --format json prints a list of {file, line, col, path, message}."""
    from planrunner.compile import check_file

    problems = [p for path in plans for p in check_file(path)]
    if problems:
        raise PlanError(problems)
    if fmt == "json":
        click.echo("[]")
    else:
        click.echo(f"{len(plans)} plan{'s' if len(plans) != 1 else ''} valid", err=True)


@cli.command()
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
    order `entry` returns. --format json: see planrunner/show.py for the fields."""
    import datetime as dt

    from planrunner import calendar
    from planrunner.compile import compile_file
    from planrunner.show import as_dict, as_text

    day = _parse_day(date_)
    run_start = None
    if start is not None:
        try:
            clock = dt.time.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 09:00 or 09:00:30") from None
        if day is None:
            from planrunner.plan import load_plan

            day = load_plan(plan).date or calendar.default_plan_date()
        run_start = dt.datetime.combine(day, clock, tzinfo=calendar.SEOUL)
    compiled = compile_file(plan, day=day, run_start=run_start)
    if fmt == "json":
        click.echo(json.dumps(as_dict(compiled), ensure_ascii=False, indent=2))
    else:
        click.echo(as_text(compiled), nl=False)


@cli.command()
@handled
def schema() -> None:
    """Print the plan JSON Schema (for editors and check-jsonschema)."""
    from planrunner.schema import schema_text

    click.echo(schema_text(), nl=False)


# ---- sim (simulator) --------------------------------------------------------------------


def _sim_clock(kind: str, speed: float, start: str | None) -> tuple[Any, str]:
    import datetime as dt

    from planrunner.calendar import SEOUL
    from planrunner.clock import RealClock, VirtualClock
    from planrunner.sim import default_start

    if speed <= 0:
        raise UsageError("--speed must be positive")
    if kind == "real":
        if start is not None:
            raise UsageError("--start goes with --clock virtual")
        return RealClock(), "clock: real (Asia/Seoul), session hours as they are now"
    begin = default_start()
    if start is not None:
        try:
            parsed = dt.datetime.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 2026-11-26T09:00") from None
        begin = parsed if parsed.tzinfo else parsed.replace(tzinfo=SEOUL)
    desc = f"clock: virtual from {begin.isoformat()} at {speed:g}x"
    return VirtualClock(begin, speed), desc


@cli.command("sim")
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Price paths and fill behaviour (YAML, docs/simulator.md).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject a fault, e.g. rate_limit:api=kt10000,count=2 (repeatable).",
)
@click.option(
    "--clock",
    "clock_kind",
    type=click.Choice(["virtual", "real"]),
    default="virtual",
    show_default=True,
    help="virtual: starts 09:00 of the next trading day.",
)
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="Virtual seconds per real second."
)
@click.option("--start", default=None, help="Virtual clock start, e.g. 2026-11-26T09:00.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random walk and faults.")
@click.option(
    "--env",
    type=click.Choice(["mock", "live"]),
    default="mock",
    show_default=True,
    help="The environment the simulator plays (keys of the other one: 8030).",
)
@click.option(
    "--first-ord-no",
    type=int,
    default=1,
    show_default=True,
    help="The first order number it hands out.",
)
@handled
def sim_command(
    port: int,
    scenario: Path | None,
    faults: tuple[str, ...],
    clock_kind: str,
    speed: float,
    start: str | None,
    seed: int,
    env: str,
    first_ord_no: int,
) -> None:
    """Serve the Kiwoom-compatible simulator on 127.0.0.1; prints its base URL first."""
    import signal
    import threading

    from planrunner.sim import Simulator, parse_fault

    rules = [parse_fault(spec) for spec in faults]
    clock, clock_desc = _sim_clock(clock_kind, speed, start)
    simulator = Simulator(
        clock=clock,
        scenario=scenario,
        seed=seed,
        env="live" if env == "live" else "mock",
        first_ord_no=first_ord_no,
    )
    for rule in rules:
        simulator.faults.add(rule)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = simulator.serve(port=port)
    try:
        click.echo(server.url)
        sys.stdout.flush()
        click.echo(clock_desc + (f"; faults: {', '.join(faults)}" if faults else ""))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.close()


# ---- run / status / cancel-all (runner) ---------------------------------------------------

STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where journals live (default: $XDG_STATE_HOME/planrunner).",
)
DATE_OPTION = click.option(
    "--date", "day", default=None, help="The trading day (YYYY-MM-DD); default: the plan's."
)


def _event_printer(fmt: str) -> Callable[[Any], None]:
    """One line per event as it happens: text for people, JSON lines for machines."""
    from planrunner.report import event_line

    def emit(event: Any) -> None:
        if fmt == "json":
            click.echo(json.dumps(event.as_dict(), ensure_ascii=False, default=str))
        else:
            click.echo(event_line(event))

    return emit


def _state_dir(value: Path | None) -> Path:
    from planrunner.journal import default_state_dir

    return value or default_state_dir()


def _date(value: str | None) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r} is not a date like 2026-11-26") from None


@cli.command()
@click.argument("plan", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sim", "mode", flag_value="sim", default=True, help="Embedded simulator (default).")
@click.option("--dry-run", "mode", flag_value="dry-run", help="Kiwoom's mock domain, real clock.")
@click.option("--live", "mode", flag_value="live", help="Kiwoom's live domain: real money.")
@click.option("--speed", type=float, default=None, help="--sim: virtual seconds per real second.")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="--sim: price path and fill behaviour (YAML).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="--sim: random seed.")
@click.option("--base-url", default=None, help="--dry-run: any Kiwoom-compatible server.")
@click.option(
    "--adopt", multiple=True, metavar="ID=ORD_NO", help="Take over an order already at the broker."
)
@click.option("--yes", is_flag=True, help="--live: skip the typed confirmation.")
@click.option("--allow-dirty", is_flag=True, help="--live: allow a plan with uncommitted changes.")
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def run(
    plan: Path,
    mode: str,
    speed: float | None,
    scenario: Path | None,
    seed: int,
    base_url: str | None,
    adopt: tuple[str, ...],
    yes: bool,
    allow_dirty: bool,
    day: str | None,
    state_dir: Path | None,
    fmt: str,
) -> None:
    """Run PLAN: place, modify and cancel orders at their times and on their triggers."""
    import signal
    import threading

    from planrunner.launch import RunOptions, run_plan
    from planrunner.report import summary_json, summary_lines

    if base_url and mode != "dry-run":
        raise UsageError("--base-url goes with --dry-run")
    if mode != "sim" and (speed is not None or scenario is not None):
        raise UsageError("--speed and --scenario go with --sim")
    pairs = []
    for item in adopt:
        order_id, sep, ord_no = item.partition("=")
        if not sep or not ord_no.isdigit():
            raise UsageError(f"--adopt {item!r}: write it as ID=ORD_NO, e.g. hedge=0000139")
        pairs.append((order_id, ord_no.zfill(7)))
    if mode == "live" and not yes:
        if not sys.stdin.isatty():
            raise UsageError("--live needs a typed confirmation on a terminal, or --yes")
        typed = click.prompt(
            f"LIVE trading with real money. Type the plan file name ({plan.name}) to go on",
            default="",
            show_default=False,
        )
        if typed.strip() != plan.name:
            raise UsageError("not confirmed: nothing was sent")
    opts = RunOptions(
        mode=mode,
        state_dir=_state_dir(state_dir),
        date=_date(day),
        speed=speed,
        scenario=scenario,
        seed=seed,
        base_url=base_url,
        allow_dirty=allow_dirty,
        adopt=tuple(pairs),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        click.echo("stopping: letting requests in flight finish…", err=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    emit = _event_printer(fmt)

    result = run_plan(plan, opts, emit=emit, stop=stop)
    if fmt == "json":
        click.echo(json.dumps(summary_json(result), ensure_ascii=False, default=str))
    else:
        for line in summary_lines(result):
            click.echo(line)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("plan", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--env",
    default=None,
    help="Which journal: sim, mock, live, local-HOST-PORT (default: the newest).",
)
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def status(plan: Path, env: str | None, day: str | None, state_dir: Path | None, fmt: str) -> None:
    """Show from the journal each job's state, each order's lineage, and what needs attention."""
    from planrunner.report import status_lines
    from planrunner.status import plan_status

    data = plan_status(plan, state_dir=_state_dir(state_dir), day=_date(day), env=env)
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        click.echo(f"{data['journal']}")
        for line in status_lines(data):
            click.echo(line)


@cli.command("cancel-all")
@click.argument("plan", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", "mode", flag_value="dry-run", help="The plan ran on the mock domain.")
@click.option("--live", "mode", flag_value="live", help="The plan ran on the live domain.")
@click.option("--base-url", default=None, help="--dry-run: the server the plan ran against.")
@DATE_OPTION
@STATE_DIR_OPTION
@FORMAT_OPTION
@handled
def cancel_all_cmd(
    plan: Path,
    mode: str | None,
    base_url: str | None,
    day: str | None,
    state_dir: Path | None,
    fmt: str,
) -> None:
    """Kill switch: stop PLAN's runner and cancel every order of it still open."""
    from planrunner.killswitch import cancel_all

    if mode is None:
        raise UsageError("say where the plan runs: --dry-run (mock domain or --base-url) or --live")
    if base_url and mode != "dry-run":
        raise UsageError("--base-url goes with --dry-run")

    emit = _event_printer(fmt)

    result = cancel_all(
        plan,
        state_dir=_state_dir(state_dir),
        live=mode == "live",
        base_url=base_url,
        day=_date(day),
        emit=emit,
    )
    if fmt == "json":
        click.echo(
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
            click.echo(f"stopped runner pid {result.stopped_pid}")
        for order, outcome in result.outcomes.items():
            click.echo(f"{order}: {outcome}")
        if not result.outcomes:
            click.echo("no orders of this plan reached the broker")
    sys.exit(result.exit_code)


def main() -> None:
    cli(prog_name="planrunner")
