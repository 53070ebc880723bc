"""`planrunner new`: a commented plan from a template, one per example pattern, with
`--set` values, valid as written (issue 16, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planrunner.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-26"  # a Thursday, a KRX trading day
PATTERNS = sorted(p.stem for p in (ROOT / "plans").glob("*.yaml"))


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_issue16_item4_one_template_per_example_pattern() -> None:
    code, out, _ = _run("new", "--format", "json")
    assert code == 0
    assert [t["template"] for t in json.loads(out)] == PATTERNS
    code, out, _ = _run("new")
    assert code == 0 and all(f"{p}: " in out for p in PATTERNS)


@pytest.mark.parametrize("template", PATTERNS)
def test_issue16_item4_every_template_writes_a_valid_commented_plan(
    template: str, tmp_path: Path
) -> None:
    f = tmp_path / f"{template}.yaml"
    code, _, err = _run("new", template, str(f), "--date", DAY, "--set", "name=mine")
    assert code == 0, err
    text = f.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=")
    assert "${" not in text and "#!" not in text and "\nname: mine\n" in text
    assert _run("validate", str(f))[0] == 0
    code, out, _ = _run("show", str(f), "--date", DAY, "--start", "09:00")
    assert code == 0 and "kt100" in out
    # Without FILE the same plan goes to stdout.
    assert _run("new", template, "--date", DAY, "--set", "name=mine")[1] == text


def test_issue16_item4_set_values_are_filled_in(tmp_path: Path) -> None:
    f = tmp_path / "hynix.yaml"
    sets = ["symbol=000660", "qty=2", "price=205000", "limit=207000", "max_order_value=500000"]
    code, _, err = _run("new", "open-ladder", str(f), "--date", DAY, *(f"--set={s}" for s in sets))
    assert code == 0, err
    code, out, _ = _run("show", str(f), "--date", DAY, "--format", "json")
    assert code == 0
    place = json.loads(out)["jobs"][0]["requests"][0]
    assert place["body"]["stk_cd"] == "000660"
    assert (place["body"]["ord_qty"], place["body"]["ord_uv"]) == ("2", "205000")


def test_issue16_item4_errors(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    code, _, err = _run("new", "open-ladder", str(f), "--set", "prcie=70000")
    assert code == 1 and "has no value prcie" in err and "price" in err
    code, _, err = _run("new", "no-such", str(f))
    assert code == 1 and "no template 'no-such'" in err
    code, _, err = _run("new", "open-ladder", str(f), "--set", "name=a: b")
    assert code == 1 and "--set name=" in err
    # A value that makes the plan invalid: the problem at file:line:col, nothing written.
    code, out, _ = _run("new", "open-ladder", str(f), "--date", DAY, "--set", "price=70030")
    assert code == 1 and not f.exists()
    assert f"{f}:17:12: $.orders.entry.price: 70030 is not on the KRX tick grid" in out
    f.write_text("mine\n")
    code, _, err = _run("new", "open-ladder", str(f), "--date", DAY)
    assert code == 1 and "exists" in err and f.read_text() == "mine\n"
    assert _run("new", "open-ladder", str(f), "--date", DAY, "--force")[0] == 0
