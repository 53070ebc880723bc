"""Plan input is bounded (issue 11, item 13): integers are integers, YAML aliases and file
sizes are limited, only regular files are read, tags outside the plan language are plan
errors, patterns refuse a trailing newline, quantities and prices fit the 12-digit fields.

The commands that could exhaust memory run in a subprocess whose address space is
capped, so a regression fails the test (MemoryError, exit 3) instead of the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from planrunner.plan.load import load_file, load_text
from tests.support.plan_text import BASE, problems

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 4 * 1024 * 1024  # the bound on a plan file
MEMORY_CAP = 1024 * 1024 * 1024  # bytes of address space for a capped `planrunner`


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def capped(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`planrunner ARGS` with its memory capped and a deadline (a hang fails the test)."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "planrunner", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        preexec_fn=_cap,
        cwd=tmp_path,
    )


def alias_bomb(levels: int = 6) -> str:
    """A plan-shaped "billion laughs": each level repeats the one before nine times."""
    lines = ["version: 1", "name: bomb", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f'orders: {{e: {{symbol: "005930", side: buy, qty: 1, price: 1, x: *l{levels}}}}}')
    return "\n".join(lines) + "\n"


def test_issue11_item13_a_float_quantity_is_a_plan_error_at_its_line(tmp_path: Path) -> None:
    modify = BASE + "steps:\n  - at: '09:10'\n    modify: {order: entry, qty: 6.0}\n"
    assert problems(tmp_path, modify) == [
        "12:33: $.steps[0].modify.qty: 6.0 is not of type integer"
    ]
    price = BASE.replace("price: 70000", "price: 70000.0")
    assert problems(tmp_path, price) == [
        "8:12: $.orders.entry.price: 70000.0 is not of type integer"
    ]


def test_issue11_item13_a_float_quantity_is_refused_by_validate_and_show(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(BASE + "steps:\n  - at: '09:10'\n    modify: {order: entry, qty: 6.0}\n")
    done = capped(tmp_path, "show", str(plan))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "$.steps[0].modify.qty: 6.0 is not of type integer" in done.stdout
    assert "4.0" not in done.stdout


def test_issue11_item13_an_alias_bomb_fails_fast_as_a_plan_error(tmp_path: Path) -> None:
    assert len(alias_bomb(6)) < 600  # ~1.3 GB once expanded: only ever loaded capped
    plan = tmp_path / "bomb.yaml"
    plan.write_text(alias_bomb(6))
    done = capped(tmp_path, "run", str(plan), "--sim", "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "YAML aliases expand the plan past" in done.stdout + done.stderr


def test_issue11_item13_a_recursive_alias_is_a_plan_error() -> None:
    found = load_text("version: 1\nname: t\norders: &o {e: *o}\n", "p").problems
    assert [p.message for p in found] == ["a YAML alias refers to a value that contains it"]


def test_issue11_item13_aliases_within_the_bound_still_work() -> None:
    text = "a: &price 70000\nb: *price\nbase: &b {x: 1}\nc: {<<: *b, y: 2}\n"
    assert load_text(text, "p").data == {
        "a": 70000,
        "b": 70000,
        "base": {"x": 1},
        "c": {"x": 1, "y": 2},
    }


def test_issue11_item13_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    for plan in (fifo, zero):
        assert [p.message for p in load_file(plan).problems] == ["cannot read: not a regular file"]
        for args in (("validate", str(plan)), ("run", str(plan), "--sim")):
            done = capped(tmp_path, *args)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "not a regular file" in done.stdout + done.stderr
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    done = capped(tmp_path, "diff", str(fifo), str(good))
    assert done.returncode == 1 and "not a regular file" in done.stderr, done.stderr
    link = tmp_path / "link.yaml"
    link.symlink_to(good)
    assert load_file(link).problems == ()  # a symlink to a plan is still read


def test_issue11_item13_a_file_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "# " + "x" * MAX_BYTES + "\n")
    assert [p.message for p in load_file(big).problems] == [
        "cannot read: larger than 4096 KiB: not a plan"
    ]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2026-11-26", "!!timestamp"),
        ("!!set {a}", "!!set"),
        ("!!python/object:os.system x", "!!python/object:os.system"),
        ("!!python/name:os.system x", "!!python/name:os.system"),
        ("!local 1", "!local"),
    ],
)
def test_issue11_item13_a_tag_outside_the_plan_language_is_a_plan_error(
    value: str, tag: str
) -> None:
    found = load_text(BASE + f"description: {value}\n", "p").problems
    assert [(p.line, p.path, p.message) for p in found] == [
        (10, "$.description", f"the YAML tag {tag} is not part of the plan language")
    ]


def test_issue11_item13_binary_and_timestamp_tags_exit_1(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(
        BASE.replace("price: 70000", "price: !!binary aGVsbG8=").replace(
            'at: "09:00:05"', "at: !!timestamp 2026-11-26 09:00:05"
        )
    )
    done = capped(tmp_path, "validate", str(plan))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the YAML tag !!binary is not part of the plan language" in done.stdout
    assert "the YAML tag !!timestamp is not part of the plan language" in done.stdout


def test_issue11_item13_patterns_refuse_a_trailing_newline(tmp_path: Path) -> None:
    cases = {
        'symbol: "005930"': ('symbol: "005930\\n"', "$.orders.entry.symbol"),
        "name: t": ('name: "t\\n"', "$.name"),
        'at: "09:00:05"': ('at: "09:00:05\\n"', "$.orders.entry.at"),
    }
    for old, (new, path) in cases.items():
        found = problems(tmp_path, BASE.replace(old, new))
        assert len(found) == 1 and f": {path}: " in found[0], found
    step = "steps:\n  - at: '09:10'\n    modify: {order: entry, price: \"+1 tick\\n\"}\n"
    assert problems(tmp_path, BASE + step) == [
        "12:35: $.steps[0].modify.price: '+1 tick\\n' is not a price: write won as an "
        'integer (70000) or a tick offset ("+1 tick", "-2 ticks")'
    ]
    adopt = BASE + '  hedge: {adopt: "0000139\\n", symbol: "000660", side: sell}\n'
    assert any("$.orders.hedge.adopt" in p for p in problems(tmp_path, adopt))


def test_issue11_item13_quantities_and_prices_fit_the_12_digit_fields(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE.replace("qty: 10", "qty: 999999999999")) == []
    assert problems(tmp_path, BASE.replace("qty: 10", "qty: 1_000_000_000_000")) == [
        "7:10: $.orders.entry.qty: 1000000000000 is above 999999999999: the broker's field "
        "holds 12 digits"
    ]
    huge = BASE.replace("price: 70000", "price: 100000000000000000000")
    assert [p.split(": ", 2)[1] for p in problems(tmp_path, huge)] == ["$.orders.entry.price"]
