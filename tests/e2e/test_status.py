"""`planrunner status` tells, from the journal alone, what happened to each job and order."""

from __future__ import annotations

from pathlib import Path

from tests.support.loopback import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_status_after_a_rehearsal_shows_states_and_lineage(tmp_path):
    ran = run_cli(
        "run",
        str(ROOT / "plans/open-ladder.yaml"),
        "--scenario",
        str(ROOT / "plans/scenarios/open-ladder.yaml"),
        "--speed",
        "5000",
        "--state-dir",
        str(tmp_path),
    )
    assert ran.returncode == 0, ran.stderr
    status = run_cli("status", str(ROOT / "plans/open-ladder.yaml"), "--state-dir", str(tmp_path))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].endswith(".sim.jsonl")
    assert any(
        line.split()[:5] == ["entry.modify@09:30", "09:30:00", "entry", "modify", "done"]
        for line in lines
    )
    lineage = next(line for line in lines if line.startswith("entry: "))
    assert lineage.startswith("entry: 0000001 → 0000002 (modify 09:30) → 0000003 (modify 09:35)")
    assert lineage.endswith("→ 0000009 (cancel 15:10)")
    assert "needs attention" not in status.stdout


def test_status_without_a_journal_says_so(tmp_path):
    status = run_cli("status", str(ROOT / "plans/open-ladder.yaml"), "--state-dir", str(tmp_path))
    assert status.returncode == 2
    assert "no journal for samsung-open-ladder" in status.stderr
