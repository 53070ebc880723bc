"""The command group: which module holds each command, and what `validate` imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
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
    (docs/performance.md, Validate): no other command, no logging."""
    after = _after_main("validate", str(PLAN))
    assert after["code"] == 0
    modules = set(after["modules"])  # type: ignore[call-overload]
    assert "planrunner.cli.plan_commands" in modules
    heavy = ("httpx", "h11", "apscheduler", "websockets", "jsonschema", "holidays", "logging")
    ours = ("planrunner.kiwoom.client", "planrunner.sim", "planrunner.engine", "planrunner.app")
    others = {f"planrunner.cli.{m}" for m in COMMAND_MODULES.values()} - {
        "planrunner.cli.plan_commands"
    }
    unwanted = {m for m in modules if m.split(".")[0] in heavy or m.startswith(ours)}
    assert unwanted | (modules & others) == set()


def _after_main(*args: str) -> dict[str, object]:
    """Run the console script's `main` in a new process; what it left behind."""
    code = (
        "import sys, json, os\n"
        "from planrunner.cli.group import main\n"
        f"sys.argv = ['planrunner', *{list(args)!r}]\n"
        "def report(code):\n"
        "    logging = sys.modules.get('logging')\n"
        "    logger = logging and logging.getLogger('planrunner')\n"
        "    filters = [type(f).__name__ for h in (logger.handlers if logger else [])\n"
        "               for f in h.filters]\n"
        "    print(json.dumps({'code': code, 'modules': sorted(sys.modules),\n"
        "                      'filters': filters,\n"
        "                      'propagate': logger.propagate if logger else None}))\n"
        "    sys.stdout.flush()\n"
        "    real_exit(0)\n"
        "real_exit, os._exit = os._exit, report\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_commands_that_reach_a_broker_log_through_the_redacting_handler_once() -> None:
    for args in (["status", "--help"], ["sim", "--help"], ["--help"]):
        after = _after_main(*args)
        assert after["code"] == 0
        assert after["filters"] == ["RedactingFilter"], args
        assert after["propagate"] is False


def test_many_plans_checked_in_workers_print_what_one_process_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From PARALLEL_FROM files on, `validate` shares them among forked workers (on a
    machine with one CPU it does not, and this compares one process with itself): every
    problem and warning, in the files' order, as the one-process check prints them."""
    from planrunner.cli import plan_commands

    text = PLAN.read_text(encoding="utf-8")
    files = []
    for i in range(plan_commands.PARALLEL_FROM + 20):
        body = text
        if i % 37 == 5:  # a problem with its line and column
            body = text.replace("side: buy", "side: bye", 1)
        if i % 53 == 7:  # unparsable
            body = text + "\n  : [\n"
        path = tmp_path / f"p{i:04d}.yaml"
        path.write_text(body, encoding="utf-8")
        files.append(str(path))
    out = subprocess.run(
        [sys.executable, "-m", "planrunner", "validate", *files], capture_output=True, text=True
    )
    monkeypatch.setattr(plan_commands, "PARALLEL_FROM", 10**9)
    one = CliRunner().invoke(cli, ["validate", *files])
    assert (out.returncode, out.stdout, out.stderr) == (one.exit_code, one.stdout, one.stderr)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert len({line.split(":")[0] for line in lines}) == len(range(5, len(files), 37)) + len(
        range(7, len(files), 53)
    )
    assert lines == sorted(lines, key=lambda line: line.split(":")[0])
