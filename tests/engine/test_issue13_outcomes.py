"""Typed outcomes: routine or attention is a property of a skip's code, never of its words;
one exit-code table; every dispatch over the action and condition unions is exhaustive."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import planrunner
from planrunner.engine.attention import items
from planrunner.engine.journal import replay_lines
from planrunner.engine.outcome import Kind, Outcome, SkipCode
from planrunner.errors import ExitCode
from planrunner.model import Cancel
from tests.support.rehearsal import Rehearsal, entry_plan

START = {"type": "start", "format": 2, "t": "2026-11-26T09:00:00+09:00"}


def _state(*records: dict[str, object]):
    lines = [json.dumps(START)]
    lines += [json.dumps({**r, "t": "2026-11-26T09:00:01+09:00"}) for r in records]
    return replay_lines(lines)


def test_issue13_a_skip_is_routine_by_its_code_not_its_words() -> None:
    state = _state(
        # Words that once read as routine ("filled…"), a code that needs attention.
        {"type": "skipped", "job": "a", "code": "value", "reason": "filled the cap: 910,000"},
        # Words that once read as attention, a routine code.
        {"type": "skipped", "job": "b", "code": "filled", "reason": "nothing left to do"},
        {"type": "skipped", "job": "c", "code": "late", "reason": "behind by 42s"},
    )
    assert [(i.job, i.reason) for i in items(state)] == [("a", "skipped"), ("c", "late")]


def test_issue13_a_skip_without_a_code_needs_attention() -> None:
    # A journal from before codes: its wording is not read; the skip is shown.
    state = _state({"type": "skipped", "job": "a", "reason": "filled"})
    assert [(i.job, i.reason) for i in items(state)] == [("a", "skipped")]


@pytest.mark.parametrize("code", list(SkipCode))
def test_issue13_every_skip_code_is_routine_or_attention(code: SkipCode) -> None:
    skip = Outcome(kind=Kind.SKIPPED, reason="x", code=code)
    assert skip.needs_attention is (not code.routine)
    assert (code.attention is None) is code.routine


def test_issue13_executor_journals_the_code_of_each_skip(tmp_path: Path) -> None:
    r = Rehearsal(tmp_path)
    # The second cancel finds nothing open any more.
    result = r.run(entry_plan((1, Cancel(order="entry")), (2, Cancel(order="entry"))))
    records = [json.loads(x) for x in (tmp_path / "journal.jsonl").read_text().splitlines()]
    [skip] = [rec for rec in records if rec["type"] == "skipped"]
    assert (skip["job"], skip["code"]) == ("steps[1]", "not-open")
    assert result.jobs["steps[1]"] == "skipped (not open at the broker (cancelled))"
    assert result.exit_code == ExitCode.OK, result.attention


def test_issue13_one_exit_code_table() -> None:
    # No module defines exit codes of its own beside errors.ExitCode.
    root = Path(planrunner.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                assert not [n for n in names if n.startswith("EXIT_")], path
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]


def test_issue13_dispatch_over_the_unions_is_exhaustive() -> None:
    # Every `match` in the package whose cases name a variant of the action or condition
    # unions ends in `case _: assert_never(...)`, so mypy fails on a new variant.
    variants = {
        "Place", "Modify", "Cancel", "Market", "Replace",
        "PriceCond", "FilledCond", "PartiallyFilledCond", "AllCond", "AnyCond",
    }  # fmt: skip
    root = Path(planrunner.__file__).parent
    seen = 0
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Match):
                continue
            named = {
                n.cls.id
                for c in node.cases
                for n in ast.walk(c.pattern)
                if isinstance(n, ast.MatchClass) and isinstance(n.cls, ast.Name)
            }
            if not named & variants:
                continue
            seen += 1
            last = node.cases[-1]
            call = last.body[0]
            assert isinstance(last.pattern, ast.MatchAs) and last.pattern.pattern is None, path
            assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call), path
            assert getattr(call.value.func, "id", "") == "assert_never", path
    assert seen >= 8  # execute, show (2), triggers (3), reaction (2), model
