"""Mock and live never mix; only a committed plan trades live (issue 11, item 11).

`--dry-run --base-url` goes to Kiwoom's mock domain or a loopback address only, whatever
the spelling of the host (case, trailing dot, numeric IP forms); the live guard compares
the plan file with its content at HEAD, which git's index flags cannot hide. The CLI
cases run under tests/support/netguard.py: a refusal must come before any lookup or
connection, so nothing is ever attempted at the real host.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from planrunner.app.targets import dry_run_host, is_loopback, live_guard
from planrunner.errors import RunError, UsageError
from tests.security.test_live_guard import GIT, PLAN, guarded


@pytest.mark.parametrize(
    "url",
    [
        "https://api.kiwoom.com",
        "https://API.KIWOOM.COM",
        "https://api.kiwoom.com.",
        "https://Api.Kiwoom.Com.:443/",
        "http://api.kiwoom.com:80",
        "https://example.com",
        "http://0.0.0.0:8080",
        "http://10.0.0.1:8080",
        "http://localhost.example.com:8080",
        "http://127.0.0.1.nip.io:8080",
        "http://user:pw@127.0.0.1:80@api.kiwoom.com/",
        "ftp://127.0.0.1/",
    ],
)
def test_issue11_item11_dry_run_refuses_every_host_but_mock_and_loopback(url: str) -> None:
    with pytest.raises(UsageError):
        dry_run_host(url)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("https://mockapi.kiwoom.com", "mock"),
        ("https://MOCKAPI.kiwoom.com.", "mock"),
        ("http://127.0.0.1:8080", "loopback"),
        ("http://127.1:8080", "loopback"),
        ("http://0x7f000001:8080", "loopback"),
        ("http://2130706433:8080", "loopback"),
        ("http://127.0.0.2:8080", "loopback"),
        ("http://[::1]:8080", "loopback"),
        ("http://[::ffff:127.0.0.1]:8080", "loopback"),
        ("http://LOCALHOST.:8080", "loopback"),
    ],
)
def test_issue11_item11_dry_run_takes_the_mock_domain_and_loopback_in_any_spelling(
    url: str, where: str
) -> None:
    assert dry_run_host(url) == where


def test_issue11_item11_loopback_is_decided_on_the_address() -> None:
    assert all(is_loopback(h) for h in ("127.1", "0177.0.0.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "0", "127.0.0.1 x", "deadbeef"))


def test_issue11_item11_the_live_host_in_disguise_is_refused_before_any_lookup(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "guard.yaml"
    plan.write_text(PLAN)
    code, out, attempts = guarded(
        tmp_path, "run", str(plan), "--dry-run", "--base-url", "https://API.KIWOOM.COM.",
        "--state-dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert code == 1, out
    assert "not api.kiwoom.com: nothing was sent" in out
    assert attempts == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo"
    d.mkdir()
    (d / "guard.yaml").write_text(PLAN)
    env = {**os.environ, **GIT}
    for args in (["init", "-q"], ["add", "guard.yaml"], ["commit", "-qm", "plan"]):
        subprocess.run(["git", *args], cwd=d, check=True, env=env)
    return d


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_issue11_item11_index_flags_do_not_hide_an_edited_plan(repo: Path, flag: str) -> None:
    plan = repo / "guard.yaml"
    assert live_guard(plan, allow_dirty=False)  # committed as it is: the commit
    plan.write_text(PLAN.replace("qty: 1,", "qty: 100,"))
    subprocess.run(["git", "update-index", flag, "guard.yaml"], cwd=repo, check=True)
    assert (
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        == ""
    )  # git itself no longer sees the edit
    with pytest.raises(RunError, match="is not committed in git"):
        live_guard(plan, allow_dirty=False)


def test_issue11_item11_an_assume_unchanged_edit_sends_nothing_live(
    tmp_path: Path, repo: Path
) -> None:
    plan = repo / "guard.yaml"
    plan.write_text(PLAN.replace("qty: 1,", "qty: 100,"))
    subprocess.run(["git", "update-index", "--assume-unchanged", "guard.yaml"], cwd=repo)
    code, out, attempts = guarded(
        tmp_path, "run", str(plan), "--live", "--yes", "--state-dir", str(tmp_path / "s")
    )
    assert code == 2 and "is not committed in git" in out, out
    assert attempts == []
