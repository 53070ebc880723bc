"""A bug in a command leaves its crash log under the command's --state-dir (issue 13): the
command line's error handler wrote it under the default state directory whatever
--state-dir said, so a user who keeps a plan's state elsewhere never found it.

The bug is forced through the crash seam the crash tests use (`execute.CRASH_POINT`, set
by the test, never read from the environment): here it raises instead of killing the
process, as a bug in the executor would.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from planrunner.cli import cli
from planrunner.engine import execute
from planrunner.errors import ExitCode
from planrunner.redact import register
from tests.support.plan_text import chain

SECRET = "SECRET-issue13-statedir-crash-77c1"


def _bug(job_id: str, req: int, where: str) -> None:
    raise RuntimeError(f"a bug at {job_id}:{req}:{where} holding {SECRET}")


def _only_log(logs: Path) -> Path:
    found = sorted(logs.glob("crash-*.log"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default state directory: a crash log must not land there."""
    register(SECRET)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "planrunner"


def test_issue13_a_bug_in_a_command_logs_under_its_state_dir(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` reads the journal on the command's own thread: a bug there reaches the
    command line's error handler (exit 3), which names the log it wrote."""
    from planrunner.app import status as status_module

    def broken(*args: object, **kwargs: object) -> None:
        _bug("status", 0, "read")

    monkeypatch.setattr(status_module, "plan_status", broken)
    plan = tmp_path / "p.yaml"
    plan.write_text(chain("crashy"))
    state = tmp_path / "state"
    result = CliRunner().invoke(cli, ["status", str(plan), "--state-dir", str(state)])
    assert result.exit_code == ExitCode.INTERNAL, result.output
    log = _only_log(state / "logs")
    assert f"(traceback in {log})" in result.output
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "RuntimeError: a bug at status:0:read holding" in text
    assert SECRET not in text and SECRET not in result.output
    assert not (elsewhere / "logs").exists()


def test_issue13_a_bug_in_a_run_logs_under_its_state_dir(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --sim`: the executor raises at its first request (after the intent), on the
    run's job thread; the run ends needing attention and its crash log is under
    --state-dir, redacted, 0600."""
    monkeypatch.setattr(execute, "CRASH_POINT", _bug)
    plan = tmp_path / "p.yaml"
    plan.write_text(chain("crashy"))
    state = tmp_path / "state"
    args = ["run", str(plan), "--sim", "--speed", "20", "--state-dir", str(state)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0, result.output
    log = _only_log(state / "logs")
    assert str(log) in result.output
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "RuntimeError: a bug at entry.place:0:after-intent holding" in text
    assert SECRET not in text and SECRET not in result.output
    assert not (elsewhere / "logs").exists()
