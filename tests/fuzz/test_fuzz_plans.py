"""Random plan documents and random YAML text through `validate` and `show`, in-process.

No input makes either command crash: exit 0 or 1 only, never 3 (internal error), and
every problem names a line >= 1, a column >= 1 and a `$`-path. See tests/fuzz/plans.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planrunner.cli import cli
from tests.fuzz.plans import PLAN, VALID_TEXT, YAML_BYTES, YAML_TEXT, Checker, dump
from tests.fuzz.settings import bounded

# A failing example of these nested strategies has a long repr; that is no failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return Checker(tmp_path_factory.mktemp("fuzz-plans"))


@bounded()
@given(doc=PLAN, flow=st.booleans(), fmt=st.sampled_from(["json", "text"]))
def test_random_plan_documents_validate(checker: Checker, doc: Any, flow: bool, fmt: str) -> None:
    assert checker.validate(dump(doc, flow), fmt) == []


@bounded()
@given(
    doc=PLAN,
    fmt=st.sampled_from(["json", "text"]),
    date=st.sampled_from([None, "2026-11-26", "2026-06-03"]),
)
def test_random_plan_documents_show(checker: Checker, doc: Any, fmt: str, date: str | None) -> None:
    assert checker.show(dump(doc, False), fmt, date) == []


@bounded()
@given(text=YAML_TEXT, fmt=st.sampled_from(["json", "text"]))
def test_random_yaml_text_validate(checker: Checker, text: str, fmt: str) -> None:
    assert checker.validate(text, fmt) == []


@bounded(max_examples=30)
@given(text=YAML_TEXT)
def test_random_yaml_text_show(checker: Checker, text: str) -> None:
    assert checker.show(text, "json") == []


@bounded(max_examples=30)
@given(data=YAML_BYTES)
def test_binary_junk_validate(checker: Checker, data: bytes) -> None:
    assert checker.validate(data, "json") == []


def test_the_checker_catches_a_broken_contract(checker: Checker) -> None:
    """Positive control: a valid plan passes, and the checker's own parsing is not vacuous."""

    assert checker.validate(VALID_TEXT, "json") == []
    assert checker.show(VALID_TEXT, "text", "2026-11-26") == []
    assert checker.validate("version: 2\n", "json") == []  # exit 1, well-formed problems
    assert checker.check(["validate", str(Path("/nonexistent/dir/p.yaml"))], "json") == []


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("\x1fversion: 1\n", 1, 1),
        ("version: 1\nname: 주문\x1f\n", 2, 9),
        ("version: 1\n\n  x: \x7f", 3, 6),
        ("a: b\x00", 1, 5),
    ],
)
def test_a_control_character_is_pinned_to_its_line(
    checker: Checker, text: str, line: int, col: int
) -> None:
    """Found by the fuzzer: PyYAML's ReaderError has no mark, so these came out as 1:1 with
    a two-line message (`...\n  in "<unicode string>", position 7`)."""
    from planrunner.plan.load import load_text

    (problem,) = load_text(text, "p.yaml").problems
    assert (problem.line, problem.col) == (line, col)
    assert "\n" not in problem.message and "unacceptable character" in problem.message
    assert checker.validate(text, "text") == []


@pytest.mark.parametrize("text", ["---\n", "null\n", "~\n", "--- ~\n", "---\n...\n"])
def test_a_null_document_is_not_a_valid_plan(checker: Checker, text: str) -> None:
    """Found by the fuzzer: `validate` said "1 plan valid" (exit 0) for a file holding only
    `---` or `null`, while `show` exited 1 printing no problem at all."""
    from planrunner.plan.load import load_text

    (problem,) = load_text(text, "p.yaml").problems
    assert problem.path == "$" and "no plan" in problem.message
    for fmt in ("json", "text"):
        assert checker.validate(text, fmt) == []
        assert checker.show(text, fmt) == []
    assert checker.runner.invoke(cli, ["validate", str(checker.write(text))]).exit_code == 1
