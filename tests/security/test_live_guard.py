"""No request reaches the live domain without `--live` and a confirmation.

`planrunner` runs in a subprocess under tests/support/netguard.py, which records and
refuses every non-loopback name lookup and connection (nothing leaves the machine). The
refused cases must record no attempt at api.kiwoom.com at all; the positive controls
show the recorder does see (and stop) attempts at Kiwoom's domains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.loopback import SimProcess
from tests.support.plan_text import plan_of

ROOT = Path(__file__).resolve().parents[2]
LIVE_HOST = "api.kiwoom.com"
MOCK_HOST = "mockapi.kiwoom.com"
KEYS = {"KIWOOM_APPKEY": "APPKEY-canary-guard-31c9", "KIWOOM_SECRETKEY": "SECRET-canary-guard-8e02"}
GIT = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}
PLAN = plan_of(
    "guard",
    'entry: {symbol: "005930", side: buy, qty: 1, price: 69000, at: "+1s"}',
    steps=('{at: "+2s", cancel: {order: entry}}',),
)
# For runs dated another day (--date): times relative to the run start happen today only.
CLOCK_PLAN = PLAN.replace('"+1s"', '"09:00:01"').replace('"+2s"', '"09:00:02"')


def guarded(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, str, list[dict[str, str]]]:
    """Exit code, output, and the network attempts of one guarded `planrunner` run."""
    record = tmp_path / f"net-{len(list(tmp_path.glob('net-*')))}.jsonl"
    env = {
        **os.environ,
        **KEYS,
        "XDG_STATE_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(ROOT),
        # not honoured by the client's transport (checked below); a dead port if it were
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.netguard", str(record), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    lines = [json.loads(x) for x in record.read_text().splitlines()] if record.exists() else []
    assert lines and lines[0]["op"] == "installed", "the network guard did not run"
    return done.returncode, done.stdout + done.stderr, lines[1:]


def hosts(attempts: list[dict[str, str]]) -> set[str]:
    return {a["host"] for a in attempts}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the plan committed."""
    d = tmp_path / "repo"
    d.mkdir()
    (d / "guard.yaml").write_text(PLAN)
    (d / "clock.yaml").write_text(CLOCK_PLAN)
    env = {**os.environ, **GIT}
    for args in (["init", "-q"], ["add", "guard.yaml", "clock.yaml"], ["commit", "-qm", "plan"]):
        subprocess.run(["git", *args], cwd=d, check=True, env=env)
    return d


def test_live_without_confirmation_on_a_non_tty_sends_nothing(tmp_path: Path, repo: Path) -> None:
    code, out, attempts = guarded(
        tmp_path, "run", str(repo / "guard.yaml"), "--live", "--state-dir", str(tmp_path / "s")
    )
    assert code == 1 and "--live needs a typed confirmation" in out, out
    assert attempts == []


def test_live_with_yes_on_an_uncommitted_plan_sends_nothing(tmp_path: Path, repo: Path) -> None:
    plan = repo / "guard.yaml"
    plan.write_text(PLAN + "# edited\n")
    state = str(tmp_path / "s")
    code, out, attempts = guarded(
        tmp_path, "run", str(plan), "--live", "--yes", "--state-dir", state
    )
    assert code == 2 and "is not committed in git" in out, out
    assert attempts == []
    outside = tmp_path / "loose.yaml"  # not in any repository
    outside.write_text(PLAN)
    code, out, attempts = guarded(
        tmp_path, "run", str(outside), "--live", "--yes", "--state-dir", state
    )
    assert code == 2 and "is not in a git repository" in out, out
    assert attempts == []


def test_sim_touches_no_network(tmp_path: Path, repo: Path) -> None:
    code, out, attempts = guarded(
        tmp_path, "run", str(repo / "guard.yaml"), "--sim", "--speed", "4",
        "--state-dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert code == 0, out
    assert attempts == []


def test_dry_run_on_loopback_reaches_only_loopback(tmp_path: Path, repo: Path) -> None:
    sim = SimProcess()
    try:
        code, out, attempts = guarded(
            tmp_path, "run", str(repo / "guard.yaml"), "--dry-run", "--base-url", sim.url,
            "--state-dir", str(tmp_path / "s"),
        )  # fmt: skip
        committed = sim.order_requests()
    finally:
        sim.close()
    assert code == 0, out
    assert attempts == []
    assert [r["api_id"] for r in committed] == ["kt10000", "kt10003"]  # it did trade


def test_positive_control_dry_run_tries_the_mock_domain_and_is_stopped(tmp_path: Path) -> None:
    """Without --base-url, --dry-run goes to mockapi.kiwoom.com: the guard records the
    attempt and refuses it, so the refused cases above are not vacuous."""
    plan = tmp_path / "guard.yaml"
    plan.write_text(CLOCK_PLAN)
    code, out, attempts = guarded(
        tmp_path, "run", str(plan), "--dry-run", "--date", "2026-11-26",
        "--state-dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert code == 2, out
    assert MOCK_HOST in hosts(attempts), attempts
    # had HTTPS_PROXY been honoured, the client would have gone to 127.0.0.1:9 and never
    # looked the name up: the client's transport ignores proxy variables
    assert LIVE_HOST not in hosts(attempts)


def test_positive_control_confirmed_live_tries_the_live_domain_and_is_stopped(
    tmp_path: Path, repo: Path
) -> None:
    """A committed plan with --live --yes does go for api.kiwoom.com (with fake keys):
    the guard sees it and refuses the name lookup, so not one packet leaves."""
    code, out, attempts = guarded(
        tmp_path, "run", str(repo / "clock.yaml"), "--live", "--yes", "--date", "2026-11-26",
        "--state-dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert code == 2, out
    assert hosts(attempts) == {LIVE_HOST}, attempts
