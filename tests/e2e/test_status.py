"""`planrunner status` tells, from the journal alone, what happened to each job and order."""

from __future__ import annotations

import json
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


REFUSED_PLAN = """\
version: 1
name: status-attention
orders:
  wild:
    symbol: "005930"
    side: buy
    qty: 1
    price: 95000
    at: "+1s"
steps:
  - at: "+3s"
    cancel: {order: wild}
"""

REFUSED_SCENARIO = """\
symbols:
  "005930":
    base: 70000
    walk: false
"""


def test_issue12_item4_status_exits_2_when_it_lists_attention(tmp_path):
    # 95,000 is above the day's upper limit (70,000 + 30%): the broker refuses the place.
    plan = tmp_path / "p.yaml"
    plan.write_text(REFUSED_PLAN, encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(REFUSED_SCENARIO, encoding="utf-8")
    state = tmp_path / "state"
    # A fixed trading day for both commands (the simulator's clock): none of today's.
    day = ("--date", "2026-11-26", "--state-dir", str(state))
    args = (*day, "--format", "json")
    ran = run_cli("run", str(plan), "--scenario", str(scenario), "--speed", "5000", *args)
    assert ran.returncode == 2, ran.stderr
    run_attention = json.loads(ran.stdout.splitlines()[-1])["summary"]["attention"]
    assert any(a.startswith("wild.place: rejected") for a in run_attention), run_attention
    status = run_cli("status", str(plan), *args)
    assert status.returncode == 2, status.stderr
    assert json.loads(status.stdout)["attention"] == run_attention
    text = run_cli("status", str(plan), *day)
    assert text.returncode == 2, text.stderr
    assert "needs attention" in text.stdout
