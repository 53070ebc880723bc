"""Plans as code: the pre-commit hook this repository ships, and the editor schema comment
(issue 16, item 3)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planrunner.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

GOOD = """\
# yaml-language-server: $schema=../schemas/plan.schema.json
version: 1
name: good
date: 2026-11-26
orders:
  entry: {symbol: "005930", side: buy, qty: 10, price: 70000, at: "09:00:05"}
"""
BAD = GOOD.replace("name: good", "name: bad").replace("price: 70000", "price: 70030")
BAD_LINE = (
    "plans/bad.yaml:6:56: $.orders.entry.price: 70030 is not on the KRX tick grid "
    "(tick 100 at this price): nearest valid prices are 70000 and 70100"
)
SCENARIO = 'symbols:\n  "005930": {base: 70000, path: [["09:00", 70000]]}\n'


def _hook() -> dict[str, object]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["planrunner-validate"]
    hook: dict[str, object] = hooks[0]
    return hook


def _plan_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "strategies"
    (repo / "plans" / "scenarios").mkdir(parents=True)
    (repo / "schemas").mkdir()
    schema = CliRunner().invoke(cli, ["schema"]).stdout
    (repo / "schemas" / "plan.schema.json").write_text(schema, encoding="utf-8")
    (repo / "plans" / "good.yaml").write_text(GOOD, encoding="utf-8")
    (repo / "plans" / "bad.yaml").write_text(BAD, encoding="utf-8")
    (repo / "plans" / "scenarios" / "good.yaml").write_text(SCENARIO, encoding="utf-8")
    (repo / "README.md").write_text("plans\n", encoding="utf-8")
    return repo


def _selected(repo: Path) -> list[str]:
    """The files pre-commit hands the hook: its `files` pattern over the repository."""
    files = re.compile(str(_hook()["files"]))
    every = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    return [f for f in every if files.search(f)]


def test_issue16_item3_hook_selects_plans_not_scenarios(tmp_path: Path) -> None:
    hook = _hook()
    assert hook["language"] == "python" and hook["entry"] == "planrunner validate"
    repo = _plan_repo(tmp_path)
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    assert _selected(repo) == ["plans/bad.yaml", "plans/good.yaml"]


def test_issue16_item3_hook_entry_passes_valid_and_fails_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook's entry command, run as pre-commit runs it (from the repository root, the
    selected files as arguments)."""
    repo = _plan_repo(tmp_path)
    monkeypatch.chdir(repo)
    entry = str(_hook()["entry"]).split()
    assert entry[0] == "planrunner"
    ok = CliRunner().invoke(cli, [*entry[1:], "plans/good.yaml"])
    assert ok.exit_code == 0, ok.output
    failed = CliRunner().invoke(cli, [*entry[1:], *_selected(repo)])
    assert failed.exit_code == 1
    assert failed.stdout.splitlines() == [BAD_LINE]


@pytest.mark.slow
# pip reaches the package index over TLS: its certificates are checked against the date
@pytest.mark.real_clock
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_issue16_item3_pre_commit_try_repo(tmp_path: Path) -> None:
    """`pre-commit try-repo` installs this repository's hook in its own environment (from
    the package index pip is configured with) and runs it on a plan repository."""
    pytest.importorskip("pre_commit")
    repo = _plan_repo(tmp_path)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    env.pop("VIRTUAL_ENV", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=280
        )

    assert run("git", "init", "-q", ".").returncode == 0
    assert run("git", "add", ".").returncode == 0
    # One install (about half a minute): both plans in one run, the scenario left out.
    done = run(
        sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "planrunner-validate",
        "--all-files",
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "planrunner validate" in out and "Failed" in out
    assert BAD_LINE in out
    assert "good.yaml" not in out  # the valid plan passed, the scenario was not a plan


def test_issue16_item3_schema_comment_form_validates(tmp_path: Path) -> None:
    """The yaml-language-server comment of every example names the shipped schema, and
    the schema it names accepts the plan as an editor reads it (YAML 1.2,
    check-jsonschema), and planrunner accepts the plan with the comment in it."""
    shipped = (ROOT / "planrunner" / "schemas" / "plan.schema.json").read_text()
    plans = sorted((ROOT / "plans").glob("*.yaml"))
    named = set()
    for plan in plans:
        m = COMMENT.match(plan.read_text(encoding="utf-8").splitlines()[0])
        assert m, f"{plan.name}: the first line is not the schema comment"
        schema = (plan.parent / m.group(1)).resolve()
        assert schema.read_text(encoding="utf-8") == shipped
        named.add(schema)
    repo = _plan_repo(tmp_path)
    (repo / "plans" / "bad.yaml").unlink()
    [schema] = named
    done = subprocess.run(
        [
            sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema),
            *map(str, plans),
            str(repo / "plans" / "good.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = CliRunner().invoke(cli, ["validate", str(repo / "plans" / "good.yaml")])
    assert result.exit_code == 0, result.output
