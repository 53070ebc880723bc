"""What `planrunner run` refuses before anything is sent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.loopback import run_cli

ROOT = Path(__file__).resolve().parents[2]
LADDER = ROOT / "plans/open-ladder.yaml"


def _no_keys() -> dict[str, str]:
    return {"KIWOOM_APPKEY": "", "KIWOOM_SECRETKEY": ""}


def test_dry_run_without_keys_names_the_variables(tmp_path):
    done = run_cli("run", str(LADDER), "--dry-run", "--state-dir", str(tmp_path), env=_no_keys())
    assert done.returncode == 1
    assert "KIWOOM_APPKEY and KIWOOM_SECRETKEY not set" in done.stderr


def test_live_needs_a_typed_confirmation(tmp_path):
    done = run_cli("run", str(LADDER), "--live", "--state-dir", str(tmp_path))
    assert done.returncode == 1
    assert "--live needs a typed confirmation on a terminal, or --yes" in done.stderr


def test_live_refuses_a_plan_outside_git_and_an_uncommitted_one(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(LADDER.read_text())
    done = run_cli("run", str(plan), "--live", "--yes", "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 2
    assert "is not in a git repository" in done.stderr
    git = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for args in (["init", "-q"], ["add", "p.yaml"], ["commit", "-qm", "plan"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, env={**os.environ, **git})
    plan.write_text(LADDER.read_text() + "\n# edited\n")
    done = run_cli("run", str(plan), "--live", "--yes", "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 2
    assert "is not committed in git" in done.stderr and "--allow-dirty" in done.stderr


def test_a_holiday_refuses_to_run(tmp_path):
    done = run_cli("run", str(LADDER), "--date", "2026-06-03", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "2026-06-03 is not a KRX trading day (Local Election Day)" in done.stderr


def test_base_url_needs_dry_run(tmp_path):
    done = run_cli(
        "run", str(LADDER), "--base-url", "http://127.0.0.1:9", "--state-dir", str(tmp_path)
    )
    assert done.returncode == 1 and "--base-url goes with --dry-run" in done.stderr
