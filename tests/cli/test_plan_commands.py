"""The validate / show / schema commands, end to end through click, in real tmp dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planrunner.cli import cli
from tests.support.plan_text import BASE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "plans").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.stdout

    return invoke


def test_every_example_validates_and_shows(run) -> None:
    assert len(EXAMPLES) >= 6
    assert run("validate", *EXAMPLES) == (0, "")
    for plan in EXAMPLES:
        code, out = run("show", plan, "--date", "2026-11-26", "--start", "09:00")
        assert code == 0, out
        assert "kt100" in out


@pytest.mark.parametrize(
    ("plan", "args"),
    [
        ("open-ladder", []),
        ("quick-relative", ["--start", "13:00"]),
        ("take-profit", []),
        ("trailing-stop", []),
        ("oco-exit", []),
        ("ladder-times", []),
        ("sliced-buy", []),
        ("late-start", []),
    ],
)
def test_show_matches_golden(run, plan: str, args: list[str]) -> None:
    code, out = run("show", f"plans/{plan}.yaml", "--date", "2026-11-26", *args)
    assert code == 0
    assert out == (GOLDEN / f"{plan}.txt").read_text(encoding="utf-8")


def test_validate_reports_every_file_sorted_and_exits_1(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("price: 70000", "price: 70030") + "steps: [\n")
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    missing = tmp_path / "missing.yaml"
    code, out = run("validate", str(missing), str(good), str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"{bad}:11:1: $: YAML syntax error: did not find expected node content "
        "(while parsing a flow node)",
        f"{missing}:1:1: $: cannot read: No such file or directory",
    ]


def test_validate_json(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("price: 70000", "prcie: 70000"))
    code, out = run("validate", "--format", "json", str(bad))
    assert code == 1
    assert json.loads(out) == [
        {
            "file": str(bad),
            "line": 8,
            "col": 5,
            "path": "$.orders.entry.prcie",
            "message": "unknown key 'prcie' (did you mean 'price'?)",
        }
    ]
    assert run("validate", "--format", "json", "plans/open-ladder.yaml") == (0, "[]\n")


def test_show_json_has_the_documented_fields(run) -> None:
    code, out = run(
        "show", "plans/emergency-close.yaml", "--date", "2026-11-26", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) == {
        "plan",
        "file",
        "date",
        "timezone",
        "run_start",
        "params",
        "broker",
        "jobs",
        "triggers",
        "oco",
        "policy",
    }
    assert data["broker"] == {}
    assert set(data["jobs"][0]) == {"id", "at", "at_text", "order", "action", "summary", "requests"}
    assert data["jobs"][-1]["requests"][1] == {
        "api_id": "kt10001",
        "body": {
            "dmst_stex_tp": "KRX",
            "stk_cd": "000660",
            "ord_qty": "<confirmed qty>",
            "ord_uv": "",
            "trde_tp": "3",
            "cond_uv": "",
        },
    }
    assert data["triggers"][0]["when"] == "price 000660 below 198,000"


def _orig_numbers(out: str) -> list[str]:
    jobs = json.loads(out)["jobs"]
    return [
        r["body"]["orig_ord_no"] for j in jobs for r in j["requests"] if "orig_ord_no" in r["body"]
    ]


def test_issue12_item3_show_names_the_number_each_broker_reading_acts_on(run) -> None:
    # place, modify price, modify qty 6 (a partial cancel of 4), modify price, cancel.
    args = ("plans/quick-relative.yaml", "--date", "2026-11-26", "--start", "09:00")
    code, out = run("show", *args, "--format", "json")
    assert code == 0
    # The rest stays under the number the partial cancel named.
    assert _orig_numbers(out) == ["<probe@1>", "<probe@2>", "<probe@2>", "<probe@4>"]
    code, out = run("show", *args, "--format", "json", "--broker", "remainder=cancel")
    assert code == 0
    assert json.loads(out)["broker"] == {"remainder": "cancel"}
    # The broker lists the rest under the partial cancel's own number: the next modify
    # names it (what `run` sends, tests/e2e/test_examples_run.py).
    assert _orig_numbers(out) == ["<probe@1>", "<probe@2>", "<probe@3>", "<probe@4>"]
    code, out = run("show", *args, "--broker", "remainder=cancel")
    assert code == 0 and "broker remainder=cancel\n" in out
    adopt = ("plans/adopt-order.yaml", "--date", "2026-11-26", "--format", "json")
    assert _orig_numbers(run("show", *adopt)[1])[0] == "0000139"
    assert _orig_numbers(run("show", *adopt, "--broker", "padding=none")[1])[0] == "139"
    assert run("show", *args, "--broker", "remainder=elsewhere")[0] == 1


def test_issue12_show_predicts_under_the_scenarios_broker_and_start(run, tmp_path) -> None:
    """`show --scenario S` predicts what `run --scenario S` sends: the scenario's broker
    readings and its clock start; a --broker on the command line wins."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        'start: "09:30"\nsymbols: {"005930": {base: 70000}}\n'
        "broker: {remainder: cancel, padding: none}\n",
        encoding="utf-8",
    )
    args = ("plans/quick-relative.yaml", "--date", "2026-11-26", "--format", "json")
    code, out = run("show", *args, "--scenario", str(scenario))
    assert code == 0, out
    data = json.loads(out)
    assert data["broker"] == {"remainder": "cancel", "padding": "none"}
    assert data["run_start"].startswith("2026-11-26T09:30:00")
    assert data["jobs"][0]["at"].startswith("2026-11-26T09:30:02")  # +2s from the start
    assert _orig_numbers(out) == ["<probe@1>", "<probe@2>", "<probe@3>", "<probe@4>"]
    # The command line wins, switch by switch; --start wins over the scenario's start.
    more = ("--scenario", str(scenario), "--broker", "remainder=original", "--start", "09:00")
    code, out = run("show", *args, *more)
    assert code == 0, out
    assert json.loads(out)["broker"] == {"padding": "none"}
    assert json.loads(out)["run_start"].startswith("2026-11-26T09:00:00")
    assert _orig_numbers(out) == ["<probe@1>", "<probe@2>", "<probe@2>", "<probe@4>"]
    # Without --scenario, the scenario's readings play no part.
    assert json.loads(run("show", *args)[1])["broker"] == {}
    bad = tmp_path / "bad.yaml"
    bad.write_text("broker: {remainder: elsewhere}\n", encoding="utf-8")
    assert run("show", *args, "--scenario", str(bad))[0] == 1


def test_show_refuses_a_holiday_date(run) -> None:
    code, out = run("show", "plans/open-ladder.yaml", "--date", "2026-12-25")
    assert (code, out) == (
        1,
        "plans/open-ladder.yaml:9:1: $: 2026-12-25 is not a KRX trading day (Christmas Day)\n",
    )


def test_schema_command_prints_the_schema(run) -> None:
    code, out = run("schema")
    assert code == 0
    assert out == (ROOT / "schemas" / "plan.schema.json").read_text()
