"""`planrunner diff`: the semantic difference of two plans' timelines, as a command, for a
git revision, and as a git diff driver (issue 16, item 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from planrunner.cli import cli
from tests.support.plan_text import BASE

DAY = "2026-11-26"  # a Thursday, a KRX trading day

PLAN = (
    BASE
    + """\
steps:
  - at: "09:30"
    modify: {order: entry, price: 70100}
  - at: "11:00"
    modify: {order: entry, qty: 6}
  - at: "15:10"
    cancel: {order: entry}
triggers:
  - id: stop
    when: {price: {symbol: "005930", below: 69000}}
    market: {order: entry}
policy:
  max_order_value: 1000000
"""
)


def _diff(tmp_path: Path, new: str, *args: str, old: str = PLAN) -> tuple[int, str]:
    a, b = tmp_path / "old.yaml", tmp_path / "new.yaml"
    a.write_text(old, encoding="utf-8")
    b.write_text(new, encoding="utf-8")
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--date", DAY, *args])
    out = result.stdout.replace(f"{tmp_path}/", "")
    return result.exit_code, out


def _body(out: str) -> list[str]:
    lines = out.splitlines()
    assert lines[:3] == ["--- old.yaml", "+++ new.yaml", f"day {DAY}, times in Asia/Seoul"]
    return lines[3:]


def test_issue16_item2_equal_timelines_exit_0_and_print_nothing(tmp_path: Path) -> None:
    # Comments, key order and an equivalent relative price do not change a request.
    same = PLAN.replace("version: 1", "# a comment\nversion: 1").replace(
        "modify: {order: entry, price: 70100}", "modify: {price: +1 tick, order: entry}"
    )
    assert _diff(tmp_path, same) == (0, "")


def test_issue16_item2_price_change(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace("price: 70100}", "price: 70200}"))
    assert code == 1
    assert _body(out) == ["~ 09:30 modify entry price 70,100 → 70,200"]


def test_issue16_item2_time_change(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace('"15:10"', '"15:05"'))
    assert code == 1
    assert _body(out) == ["~ 15:10 → 15:05 cancel entry all remaining"]


def test_issue16_item2_qty_change(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace("qty: 6}", "qty: 4}"))
    assert code == 1
    # The plan's new total size, and the request's cancel quantity that follows from it.
    assert _body(out) == ["~ 11:00 modify entry qty 6 → 4, cancel qty 4 → 6"]


def test_issue16_item2_placed_order_change(tmp_path: Path) -> None:
    new = PLAN.replace("qty: 10\n", "qty: 12\n").replace("price: 70000\n", "price: 69900\n")
    code, out = _diff(tmp_path, new)
    assert code == 1
    assert _body(out) == [
        "~ 09:00:05 place entry price 70,000 → 69,900, qty 10 → 12",
        "~ 11:00 modify entry cancel qty 4 → 6",  # qty 6 of 12 now cancels 6
    ]


def test_issue16_item2_action_change_is_a_removal_and_an_addition(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace("cancel: {order: entry}", "market: {order: entry}"))
    assert code == 1
    assert _body(out) == [
        "- 15:10 cancel entry all remaining",
        "+ 15:10 market entry: cancel the remainder, place what it confirms at market",
    ]


def test_issue16_item2_added_step_shifts_no_order_number(tmp_path: Path) -> None:
    new = PLAN.replace(
        '  - at: "11:00"',
        '  - at: "10:00"\n    modify: {order: entry, price: 70200}\n  - at: "11:00"',
    )
    code, out = _diff(tmp_path, new)
    assert code == 1
    # Every later request now targets <entry@4>, not <entry@3>: not a change of its own.
    assert _body(out) == ["+ 10:00 modify entry price 70,200"]


def test_issue16_item2_trigger_changes(tmp_path: Path) -> None:
    new = PLAN.replace("below: 69000", "below: 68500").replace(
        "    market: {order: entry}\n",
        '    market: {order: entry}\n    between: ["09:00", "15:00"]\n'
        "  - id: done\n    when: {filled: {order: entry}}\n    cancel: {order: entry, qty: 1}\n",
    )
    code, out = _diff(tmp_path, new)
    assert code == 1
    assert _body(out) == [
        "~ trigger stop: when price 005930 below 69,000 → price 005930 below 68,500, "
        "between 09:00-15:30 → 09:00-15:00",
        "+ trigger done: when entry filled, between 09:00-15:30, once: cancel entry qty 1",
    ]


def test_issue16_item2_policy_and_golden_combined(tmp_path: Path) -> None:
    new = (
        PLAN.replace("price: 70100}", "price: 70200}")
        .replace('"15:10"', '"15:05"')
        .replace("1000000", "2000000")
        .replace("below: 69000", "below: 68500")
    )
    code, out = _diff(tmp_path, new)
    assert code == 1
    golden = Path(__file__).resolve().parents[1] / "golden" / "diff-combined.txt"
    assert out == golden.read_text(encoding="utf-8")


def test_issue16_item2_json(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace("price: 70100}", "price: 70200}"), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["equal"] is False and data["date"] == DAY
    assert data["plan"] == [] and data["triggers"] == []
    assert data["jobs"] == [
        {
            "change": "changed",
            "old_id": "entry.modify@09:30",
            "new_id": "entry.modify@09:30",
            "old_at": "09:30",
            "new_at": "09:30",
            "order": "entry",
            "action": "modify",
            "summary": "modify entry price 70,200",
            "fields": [{"field": "price", "old": 70100, "new": 70200}],
        }
    ]
    code, out = _diff(tmp_path, PLAN, "--format", "json")
    assert code == 0 and json.loads(out)["equal"] is True


def test_issue16_item2_invalid_plan_reports_file_line_col(tmp_path: Path) -> None:
    code, out = _diff(tmp_path, PLAN.replace("price: 70100}", "price: 70130}"))
    assert code == 1
    assert out.startswith("new.yaml:12:35: $.steps[0].modify.price: 70130 is not on the KRX tick")


# ---- git ---------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(repo.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PAGER": "cat",
        "LC_ALL": "C.UTF-8",
    }
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "plans-repo"
    (r / "plans").mkdir(parents=True)
    _git(r, "init", "-q", ".")
    (r / "plans" / "a.yaml").write_text(PLAN.replace("version: 1", f"version: 1\ndate: {DAY}"))
    _git(r, "add", ".")
    _git(r, "commit", "-qm", "first")
    return r


@needs_git
def test_issue16_item2_plan_against_git_revision(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = repo / "plans" / "a.yaml"
    monkeypatch.chdir(repo)
    invoke = CliRunner().invoke
    assert invoke(cli, ["diff", "plans/a.yaml"]).exit_code == 0  # the file is HEAD's
    plan.write_text(plan.read_text().replace("price: 70100}", "price: 70200}"))
    result = invoke(cli, ["diff", "plans/a.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == ["--- plans/a.yaml (HEAD)", "+++ plans/a.yaml"]
    assert result.stdout.splitlines()[3:] == ["~ 09:30 modify entry price 70,100 → 70,200"]
    _git(repo, "commit", "-qam", "second")
    result = invoke(cli, ["diff", "plans/a.yaml", "HEAD~1"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "--- plans/a.yaml (HEAD~1)"
    result = invoke(cli, ["diff", "plans/a.yaml", "no-such-rev"])
    assert result.exit_code == 1
    assert "plans/a.yaml at no-such-rev" in result.stderr


@needs_git
def test_issue16_item2_git_diff_driver(repo: Path) -> None:
    """The set-up docs/plans.md gives: .gitattributes and diff.planrunner.command."""
    (repo / ".gitattributes").write_text("plans/*.yaml diff=planrunner\n")
    _git(repo, "config", "diff.planrunner.command", f"'{sys.executable}' -m planrunner diff")
    plan = repo / "plans" / "a.yaml"
    plan.write_text(plan.read_text().replace("price: 70100}", "price: 70200}"))
    out = _git(repo, "diff").stdout.splitlines()
    assert out[0].startswith("--- plans/a.yaml (") and out[1] == "+++ plans/a.yaml"
    assert out[2:] == [
        f"day {DAY}, times in Asia/Seoul",
        "~ 09:30 modify entry price 70,100 → 70,200",
    ]
    _git(repo, "commit", "-qam", "second")
    log = _git(repo, "log", "-p", "--ext-diff", "-1", "--format=%s").stdout
    assert "~ 09:30 modify entry price 70,100 → 70,200" in log


@needs_git
def test_issue16_item2_git_diff_driver_added_and_invalid_plans(repo: Path) -> None:
    """A new plan is all additions; an invalid version falls back to the text diff."""
    (repo / ".gitattributes").write_text("plans/*.yaml diff=planrunner\n")
    _git(repo, "config", "diff.planrunner.command", f"'{sys.executable}' -m planrunner diff")
    plan = repo / "plans" / "a.yaml"
    (repo / "plans" / "b.yaml").write_text(PLAN.replace("version: 1", f"version: 1\ndate: {DAY}"))
    _git(repo, "add", "plans/b.yaml")
    out = _git(repo, "diff", "--cached").stdout.splitlines()
    assert out[0] == "--- /dev/null" and out[1].startswith("+++ plans/b.yaml (")
    assert out[3:6] == [
        "~ name none → t",
        "+ 09:00:05 place entry: buy 10 005930 @ 70,000 limit on KRX",
        "+ 09:30 modify entry price 70,100",
    ]
    plan.write_text(plan.read_text().replace("version: 1", "version: 2"))
    text = _git(repo, "diff", "plans/a.yaml").stdout
    assert "$.version: 2 must be 1" in text and "-version: 1\n+version: 2" in text
    assert "+++ plans/a.yaml" in _git(repo, "diff", "--no-ext-diff").stdout.replace("b/", "")


def test_issue16_intents_trailing_and_oco_changes(tmp_path: Path) -> None:
    legs = (
        '  tp: {symbol: "005930", side: sell, qty: 10, price: 72000, at: "09:00:05"}\n'
        '  sl: {symbol: "005930", side: sell, qty: 10, price: 68000, at: "09:00:05"}\n'
        "steps:\n"
    )
    old = PLAN.replace("steps:\n", legs)
    new = (
        old.replace(
            'when: {price: {symbol: "005930", below: 69000}}',
            'when: {trailing: {symbol: "005930", below_high: "2%"}}',
        )
        + "oco:\n  - {id: exit, legs: [tp, sl]}\n"
    )
    code, out = _diff(tmp_path, new, old=old)
    assert code == 1, out
    assert _body(out) == [
        "~ oco.exit none → tp and sl",
        "~ trigger stop: when price 005930 below 69,000 → price 005930 2% below its high "
        "since armed (trailing)",
    ]
