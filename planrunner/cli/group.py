"""The click group: the only place commands are put together.

Commands are thin: they call library functions and format what comes back; the cli
package is the only one that prints or exits (`options.error_handler` maps failures to
exit codes).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import click

from planrunner import __version__
from planrunner.errors import ExitCode

# Each command's module (in planrunner.cli), imported only when that command runs (or
# `--help` lists them all): `planrunner validate` does not pay for the run commands'
# imports. tests/cli/test_group.py holds this table to the modules' COMMANDS.
COMMAND_MODULES = {
    "validate": "plan_commands",
    "show": "plan_commands",
    "diff": "plan_commands",
    "new": "plan_commands",
    "schema": "plan_commands",
    "run": "run_commands",
    "status": "run_commands",
    "cancel-all": "run_commands",
    "report": "report_command",
    "sim": "sim_command",
    "calendar": "calendar_command",
}


class _LazyGroup(click.Group):
    """A group whose commands are found in `COMMAND_MODULES` when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        if module != "plan_commands":  # the plan language logs nothing and holds no key
            _log_to_stderr()
        commands: tuple[click.Command, ...] = importlib.import_module(
            f"planrunner.cli.{module}"
        ).COMMANDS
        return next(c for c in commands if c.name == cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planrunner")
def cli() -> None:
    """Run declarative YAML order plans against Kiwoom Securities' REST API."""


def _log_to_stderr() -> None:
    """Warnings of planrunner's loggers go to stderr (as Python's last-resort handler
    would print them), with keys and tokens blanked out of each record. Set up before
    a command that talks to a broker or serves the simulator is imported (the plan
    commands skip `logging`'s import); once, however many commands `--help` loads."""
    import logging

    if logging.getLogger("planrunner").handlers:
        return

    from planrunner.redact import RedactingFilter

    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("planrunner")
    logger.addHandler(handler)
    logger.propagate = False


def _standard_streams() -> None:
    """Started with descriptor 0, 1 or 2 closed (`planrunner run PLAN >&- 2>&-`): each
    is opened on /dev/null first. Otherwise the journal would be opened as descriptor 1
    or 2, where anything printed lands in it, and Python's sys.stdout would be None
    (a run whose journal said exit 0 ended with an internal error, exit 1)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115


def main() -> None:
    """The console script: run the command, flush stdout and stderr, and end the process
    at once with the command's exit code.

    Everything a run must keep is fsynced in its journal before the summary is printed.
    Ending with `os._exit` skips the interpreter's finalization, in which a finished run
    was seen to hang for good (a finalizer waiting on a lock a parked worker thread held),
    so a script waiting for `planrunner run` to exit would wait forever.
    """
    _standard_streams()
    try:
        cli(prog_name="planrunner")
        code: int = ExitCode.OK
    except SystemExit as done:
        code = _exit_code(done.code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return ExitCode.OK
    if isinstance(code, int):
        return code
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)  # sys.exit("text"): Python prints it and exits 1
    return ExitCode.PLAN
