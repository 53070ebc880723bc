"""The YAML loader's footguns: times, codes and dates stay strings; duplicates are errors."""

from __future__ import annotations

import pytest
import yaml

from planrunner.plan.load import load_file, load_text
from planrunner.yamlfile import StrictLoader


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
    assert yaml.load(f"v: {text}", Loader=StrictLoader)["v"] == ours


def test_duplicate_key_is_a_problem_with_line_and_col() -> None:
    loaded = load_text("a: 1\nb:\n  c: 2\n  c: 3\n", "p.yaml")
    assert [str(p) for p in loaded.problems] == [
        "p.yaml:4:3: $.b.c: duplicate key 'c' (first written at line 3, column 3)"
    ]
    assert loaded.data == {"a": 1, "b": {"c": 2}}


def test_plan_loader_itself_refuses_duplicates() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="found duplicate key 'a'"):
        yaml.load("a: 1\na: 2\n", Loader=StrictLoader)


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


def test_unreadable_file_is_a_problem(tmp_path) -> None:
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


SCALARS = [
    "",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "yes",
    "on",
    "10",
    "-3",
    "+4",
    "0",
    "012",
    "70_000",
    "1.5",
    ".5",
    "-1.5e3",
    "1e3",
    ".inf",
    ".nan",
    "15:10",
    "2026-11-26",
    "+1 tick",
    "<<",
    "=",
    "abc",
    "+90s",
    "0x1f",
    "0o17",
    "-",
    ".",
    "1_0.5",
]


@pytest.mark.parametrize("loader", ["StrictLoader", "_FastLoader"])
def test_the_fast_resolver_gives_pyyamls_tags(loader: str) -> None:
    """`_FastResolve.resolve` replaces PyYAML's `BaseResolver.resolve` over the same
    table: every scalar, plain or quoted, and each collection gets the same tag."""
    import planrunner.yamlfile as load_module

    cls = getattr(load_module, loader)
    ours = cls("")
    theirs = type("Stock", (yaml.SafeLoader,), {})("")
    theirs.yaml_implicit_resolvers = cls.yaml_implicit_resolvers
    for value in SCALARS:
        for implicit in [(True, False), (False, True), (False, False)]:
            got = ours.resolve(yaml.ScalarNode, value, implicit)
            assert got == theirs.resolve(yaml.ScalarNode, value, implicit), (value, implicit)
    for kind in (yaml.SequenceNode, yaml.MappingNode):
        assert ours.resolve(kind, None, (True, False)) == theirs.resolve(kind, None, (True, False))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1",
        "a: [1, 2, {b: c, d: [e, f]}]\ng: {}\nh: []\n",
        "base: &b {x: 1, y: [2, 3]}\nuse: *b\nmore: [*b, *b]\n",
        "- [k1, k2]\n- '*not an alias*'\n- {? k: v}\n",
    ],
)
def test_the_tree_count_is_the_expanded_size_without_aliases(text: str) -> None:
    """A document without `*` is counted as a tree; on every document the general count
    (which follows aliases) agrees with it once the aliases are written out."""
    from planrunner.yamlfile import _expanded_size, _Loader, _tree_size

    node = _Loader(text).get_single_node()
    expanded = yaml.safe_dump(yaml.safe_load(text), default_flow_style=True)
    assert _expanded_size(node) == _tree_size(_Loader(expanded).get_single_node())
    if "*" not in text:
        assert _tree_size(node) == _expanded_size(node)
