"""The click group: the only place commands are put together.

Commands are thin: they call library functions and format what comes back; the cli
package is the only one that prints or exits (`options.error_handler` maps failures to
exit codes).
"""

from __future__ import annotations

import click

from planrunner import __version__
from planrunner.cli import plan_commands, run_commands, sim_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planrunner")
def cli() -> None:
    """Run declarative YAML order plans against Kiwoom Securities' REST API."""


for _command in (*plan_commands.COMMANDS, *run_commands.COMMANDS, *sim_command.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="planrunner")
