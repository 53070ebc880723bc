"""The command group: which module holds each command, and what `validate` imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from planrunner.cli import cli
from planrunner.cli.group import COMMAND_MODULES

PLAN = Path(__file__).resolve().parents[2] / "plans" / "open-ladder.yaml"


def test_every_command_is_found_in_the_module_the_table_names() -> None:
    found = {}
    for module in sorted(set(COMMAND_MODULES.values())):
        for command in importlib.import_module(f"planrunner.cli.{module}").COMMANDS:
            found[command.name] = module
    assert found == COMMAND_MODULES


def test_help_lists_every_command_and_an_unknown_one_is_refused() -> None:
    out = CliRunner().invoke(cli, ["--help"]).stdout
    listed = [line.split()[0] for line in out.split("Commands:\n")[1].splitlines() if line]
    assert listed == sorted(COMMAND_MODULES)
    wrong = CliRunner().invoke(cli, ["valdate"])
    assert wrong.exit_code == 2
    assert "No such command 'valdate'" in wrong.output


def test_validate_imports_no_other_command_nor_the_client_or_simulator() -> None:
    """A cold `planrunner validate` imports only what checking a plan needs
    (docs/performance.md, Validate)."""
    code = (
        "import sys, json\n"
        "from planrunner.cli.group import main\n"
        f"sys.argv = ['planrunner', 'validate', {str(PLAN)!r}]\n"
        "import os\n"
        "os._exit = lambda code: (print(json.dumps(sorted(sys.modules))), sys.exit(code))\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout))
    assert "planrunner.cli.plan_commands" in modules
    heavy = ("httpx", "h11", "apscheduler", "websockets", "jsonschema", "holidays")
    ours = ("planrunner.kiwoom.client", "planrunner.sim", "planrunner.engine", "planrunner.app")
    unwanted = {
        m
        for m in modules
        if m.split(".")[0] in heavy
        or m.startswith(ours)
        or (
            m.startswith("planrunner.cli.")
            and m.removeprefix("planrunner.cli.")
            in set(COMMAND_MODULES.values()) - {"plan_commands"}
        )
    }
    assert unwanted == set()
