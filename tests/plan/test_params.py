"""Plan parameters: `params:` declared, `${name}` used, `--set` on every command, errors at
file:line:col, the values in force shown and part of the journal's identity (issue 16,
item 4)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from planrunner.cli import cli
from tests.support.loopback import run_cli

DAY = "2026-11-26"  # a Thursday, a KRX trading day

PLAN = """\
version: 1
name: dip-buy
description: Buy ${qty} of ${symbol} at ${price}
params:
  symbol: {type: string, default: "005930", description: stock code}
  qty: {type: integer, default: 10}
  price: {type: integer, description: the bid}
orders:
  entry: {symbol: "${symbol}", side: buy, qty: "${qty}", price: "${price}", at: "09:00:05"}
steps:
  - at: "09:01"
    cancel: {order: entry}
"""


def _run(tmp_path: Path, *args: str, text: str = PLAN) -> tuple[int, str]:
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, [args[0], str(f), *args[1:]])
    return result.exit_code, result.output.replace(f"{f}:", "p.yaml:")


def test_issue16_item4_params_defaults_and_set_values(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "show", "--date", DAY, "--set", "price=69900", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["params"] == {"symbol": "005930", "qty": 10, "price": 69900}
    body = data["jobs"][0]["requests"][0]["body"]
    assert (body["stk_cd"], body["ord_qty"], body["ord_uv"]) == ("005930", "10", "69900")
    code, out = _run(
        tmp_path, "show", "--date", DAY, "--set", "price=205000", "--set", "symbol=000660",
        "--set", "qty=2",
    )  # fmt: skip
    assert code == 0, out
    assert out.splitlines()[2] == "params symbol=000660, qty=2, price=205000"
    assert '"stk_cd": "000660", "ord_qty": "2", "ord_uv": "205000"' in out
    assert _run(tmp_path, "validate", "--set", "price=70000")[0] == 0


def test_issue16_item4_params_errors_at_file_line_col(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "validate")
    assert code == 1
    assert out.splitlines() == [
        "p.yaml:7:3: $.params.price: parameter price has no default: give --set price=VALUE"
    ]
    code, out = _run(tmp_path, "validate", "--set", "price=7만", "--set", "colour=red")
    assert code == 1
    assert out.splitlines() == [
        "p.yaml:4:1: $.params: --set colour: the plan has no parameter colour "
        "(params: symbol, qty, price)",
        "p.yaml:7:3: $.params.price: --set price='7만': parameter price is an integer",
    ]
    # A value that breaks a rule is reported where the parameter is used.
    code, out = _run(tmp_path, "validate", "--set", "price=70050")
    assert code == 1
    assert out.startswith("p.yaml:9:65: $.orders.entry.price: 70050 is not on the KRX tick grid")
    code, out = _run(
        tmp_path, "validate", "--set", "price=70000", text=PLAN.replace('"${qty}"', '"${qtty}"')
    )
    assert code == 1
    assert out.splitlines() == [
        "p.yaml:9:48: $.orders.entry.qty: unknown parameter ${qtty} (params: symbol, qty, price)"
    ]
    mistyped = PLAN.replace("integer, description", "integer, default: x, description")
    code, out = _run(tmp_path, "validate", text=mistyped)
    assert code == 1
    assert out.splitlines() == [
        "p.yaml:7:35: $.params.price.default: default 'x' is not an integer"
    ]


def test_issue16_item4_diff_shows_parameter_changes(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(PLAN)
    new.write_text(PLAN.replace("default: 10", "default: 12"))
    result = CliRunner().invoke(
        cli, ["diff", str(old), str(new), "--date", DAY, "--set", "price=70000"]
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[3:] == [
        "~ params.qty 10 → 12",
        "~ 09:00:05 place entry qty 10 → 12",
    ]


def test_issue16_item4_params_are_part_of_the_journal_identity(tmp_path: Path) -> None:
    """Two rehearsals with other values keep two journals, each recording its values, and
    status finds each by its values."""
    plan = tmp_path / "p.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    state = tmp_path / "state"
    for price in ("70000", "69900"):
        ran = run_cli(
            "run", str(plan), "--set", f"price={price}", "--speed", "2000",
            "--state-dir", str(state),
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
    journals = sorted(state.glob("dip-buy@*/*.sim.jsonl"))
    assert len(journals) == 2 and journals[0].parent != journals[1].parent
    seen = {}
    for j in journals:
        records = [json.loads(line) for line in j.read_text().splitlines()]
        start = next(r for r in records if r.get("type") == "start")
        intent = next(r for r in records if r.get("type") == "intent")
        seen[start["params"]["price"]] = (intent["body"]["ord_uv"], j)
    assert sorted(seen) == [69900, 70000]
    assert all(body == str(price) for price, (body, _) in seen.items())
    status = run_cli("status", str(plan), "--set", "price=69900", "--state-dir", str(state))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == str(seen[69900][1])
    missing = run_cli("status", str(plan), "--set", "price=69800", "--state-dir", str(state))
    assert missing.returncode == 2 and "no journal for dip-buy@" in missing.stderr
