"""The command line: the click group and one module per command area."""

from planrunner.cli.group import cli, main

__all__ = ["cli", "main"]
