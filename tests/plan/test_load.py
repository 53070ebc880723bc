"""The YAML loader's footguns: times, codes and dates stay strings; duplicates are errors."""

from __future__ import annotations

import pytest
import yaml

from planrunner.plan.load import PlanLoader, load_file, load_text


@pytest.mark.parametrize(
    ("text", "stock_pyyaml", "ours"),
    [
        ("15:10", 910, "15:10"),
        ("15:10:05", 54605, "15:10:05"),
        ("000660", 432, "000660"),
        ("012330", 5336, "012330"),
        ("2026-11-26", __import__("datetime").date(2026, 11, 26), "2026-11-26"),
        ("on", True, "on"),
        ("+90s", "+90s", "+90s"),
        ("70_000", 70000, 70000),
        ("10", 10, 10),
    ],
)
def test_value_stays_as_written(text: str, stock_pyyaml: object, ours: object) -> None:
    assert yaml.safe_load(f"v: {text}")["v"] == stock_pyyaml
    assert load_text(f"v: {text}").data["v"] == ours
    assert yaml.load(f"v: {text}", Loader=PlanLoader)["v"] == ours


def test_duplicate_key_is_a_problem_with_line_and_col() -> None:
    loaded = load_text("a: 1\nb:\n  c: 2\n  c: 3\n", "p.yaml")
    assert [str(p) for p in loaded.problems] == [
        "p.yaml:4:3: $.b.c: duplicate key 'c' (first written at line 3, column 3)"
    ]
    assert loaded.data == {"a": 1, "b": {"c": 2}}


def test_plan_loader_itself_refuses_duplicates() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="found duplicate key 'a'"):
        yaml.load("a: 1\na: 2\n", Loader=PlanLoader)


def test_syntax_error_is_a_value_with_line_and_col() -> None:
    loaded = load_text("a: [1\nb: 2\n", "p.yaml")
    assert loaded.data is None
    assert [str(p) for p in loaded.problems] == [
        "p.yaml:2:2: $: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence)"
    ]


def test_empty_file_and_unsafe_tag_are_problems() -> None:
    assert [p.message for p in load_text("", "p").problems] == ["the file is empty"]
    bad = load_text("a: !!python/object:os.system x", "p").problems
    tag = "!!python/object:os.system"
    assert bad[0].message == f"the YAML tag {tag} is not part of the plan language"


def test_unreadable_file_is_a_problem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nope.yaml"
    (problem,) = load_file(missing).problems
    assert str(problem) == f"{missing}:1:1: $: cannot read: No such file or directory"


def test_marks_point_at_values_and_keys() -> None:
    loaded = load_text("orders:\n  entry:\n    price: 70030\nsteps:\n  - at: '09:30'\n")
    assert loaded.mark("$.orders.entry.price") == (3, 12)
    assert loaded.key_mark("$.orders.entry.price") == (3, 5)
    assert loaded.mark("$.orders.entry") == (2, 3)  # collections point at their key
    assert loaded.mark("$.steps[0].at") == (5, 9)
    assert loaded.mark("$.steps[0].modify.price") == (5, 5)  # nearest written ancestor
