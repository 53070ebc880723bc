"""What every command shares: the error handler, --format, --date and --set.

One error
handler maps failures to exit codes: 0 ok, 1 plan invalid or usage,
2 broker/runtime failure, 3 internal error (traceback kept in a log file), 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from planrunner.errors import BrokerError, ExitCode, PlanError, RunError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def choice_option(*decls: str, choices: list[str], default: str, help: str) -> Callable[[F], F]:
    """An option taking one of `choices`, its default shown in --help."""
    return click.option(
        *decls, type=click.Choice(choices), default=default, show_default=True, help=help
    )


def broker_option(help: str) -> Callable[[F], F]:
    """`--broker NAME=VALUE`, repeatable: a broker behaviour the documentation leaves open
    (planrunner/sim/behaviour.py), for the simulator to play or `show` to predict."""
    return click.option("--broker", "broker", multiple=True, metavar="NAME=VALUE", help=help)


# A file that must exist (a plan, a scenario, a rates file).
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
PLAN_ARGUMENT = click.argument("plan", type=EXISTING_FILE)
FORMAT_OPTION = choice_option(
    "--format",
    "fmt",
    choices=["text", "json"],
    default="text",
    help="Output for people (text) or machines (json).",
)
STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where journals live (default: $XDG_STATE_HOME/planrunner).",
)
DATE_OPTION = click.option(
    "--date", "day", default=None, help="The trading day (YYYY-MM-DD); default: the plan's."
)
JOURNAL_ENV_OPTION = click.option(
    "--env",
    default=None,
    help="Which journal: sim, mock, live, local-HOST-PORT (default: the newest).",
)
SET_OPTION = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="The value of a plan parameter (declared under params:); repeatable.",
)


def set_values(items: tuple[str, ...]) -> dict[str, str]:
    """`--set name=value` options as a dict; a usage error names a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--set {item!r}: write it as name=value")
        out[key.strip()] = value.strip()
    return out


def state_dir_of(value: Path | None) -> Path:
    """--state-dir, or the default state directory."""
    from planrunner.engine.journal import default_state_dir

    return value or default_state_dir()


def fail(message: str, code: int, fmt: str = "text") -> NoReturn:
    from planrunner.redact import redact  # lazy: logging's import, ~5 ms (validate)

    message = redact(message)
    try:
        if fmt == "json":
            click.echo(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
        else:
            click.echo(f"error: {message}", err=True)
    except (OSError, ValueError):  # a closed stream: the exit code still says it
        pass
    sys.exit(code)


def error_text(exc: BaseException, state_dir: Path | None = None) -> tuple[int, str]:
    """The exit code and message of a failure caught outside `error_handler` (one plan of
    several): the same mapping; a bug's traceback goes to a crash log under `state_dir`'s
    logs/ (the command's --state-dir; None: the default) (call it in the `except` block)."""
    if isinstance(exc, PlanError):
        return ExitCode.PLAN, "\n".join(str(p) for p in exc.problems)
    if isinstance(exc, UsageError):
        return ExitCode.PLAN, str(exc)
    if isinstance(exc, RunError | BrokerError):
        return ExitCode.ATTENTION, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    import traceback

    from planrunner.app.crashlog import write_crash_log

    log = write_crash_log(traceback.format_exc(), state_dir)
    return ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc} (traceback in {log})"


@contextmanager
def error_handler(fmt: str = "text", state_dir: Path | None = None) -> Iterator[None]:
    """Map every failure to its exit code; bugs get a log file instead of a bare traceback,
    under `state_dir`'s logs/ (the command's --state-dir; None: the default)."""
    try:
        yield
    except PlanError as e:
        if fmt == "json":
            click.echo(json.dumps([p.as_dict() for p in e.problems], ensure_ascii=False))
        else:
            for p in e.problems:
                click.echo(str(p))
        sys.exit(ExitCode.PLAN)
    except UsageError as e:
        fail(str(e), ExitCode.PLAN, fmt)
    except (RunError, BrokerError) as e:
        fail(str(e), ExitCode.ATTENTION, fmt)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except (SystemExit, click.exceptions.Exit, click.ClickException):
        raise
    except Exception as e:
        import traceback

        from planrunner.app.crashlog import write_crash_log

        log = write_crash_log(traceback.format_exc(), state_dir)
        fail(
            f"internal error: {type(e).__name__}: {e} (traceback in {log})", ExitCode.INTERNAL, fmt
        )


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command body in the error handler, honouring its --format and --state-dir
    (where a crash log goes)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with error_handler(kwargs.get("fmt", "text"), kwargs.get("state_dir")):
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def date_option(value: str | None) -> dt.date | None:
    """A --date value as a date (None when not given), or a usage error saying the form."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r} is not a date like 2026-11-26") from None
