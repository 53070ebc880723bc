"""schema._fast_valid says yes exactly when jsonschema does (it only skips jsonschema when
the answer is yes, so a wrong yes would hide problems)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planrunner.plan import schema
from planrunner.plan.load import load_file
from tests.plan.test_schema import INVALID

ROOT = Path(__file__).resolve().parents[2]
JSONSCHEMA = schema.validator_class()(schema.schema())
EXAMPLES = [load_file(f).data for f in sorted((ROOT / "plans").glob("*.yaml"))]


def _same(data: Any) -> None:
    assert schema._fast_valid(data) is JSONSCHEMA.is_valid(data), json.dumps(data, default=str)


def test_the_whole_schema_compiles() -> None:
    assert schema._fast_check() is not None


def test_examples_and_the_invalid_table_agree(tmp_path: Path) -> None:
    assert all(schema._fast_valid(d) for d in EXAMPLES)
    for i, (text, _) in enumerate(INVALID):
        f = tmp_path / f"{i}.yaml"
        f.write_text(text, encoding="utf-8")
        data = load_file(f).data
        if data is not None:
            _same(data)


@pytest.mark.parametrize(
    ("node", "ok", "bad"),
    [
        ({"type": "integer"}, [1, -3, 10**12], [True, 1.5, 2.0, "1", None]),
        ({"maximum": 5}, [5, 4.5, "x", True], [6, 5.5]),
        ({"minimum": 1}, [1, 1.5, "x", False], [0, 0.5, -1.0]),
        ({"const": 1}, [1, 1.0], [True, "1"]),
        ({"enum": ["a", 0]}, ["a", 0, 0.0], [False, "b"]),
        ({"required": ["a"], "minProperties": 2}, [{"a": 1, "b": 2}, [], "x"], [{"a": 1}]),
        ({"items": {"type": "string"}, "maxItems": 1}, [[], ["a"], {}], [[1], ["a", "b"]]),
        ({"pattern": "^a"}, ["ab", 1], ["ba"]),
        ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, [{"a": 1}], [{"a": 1, "b": 2}]),
        ({"if": {"required": ["a"]}, "else": {"required": ["b"]}}, [{"a": 1}, {"b": 1}], [{}]),
        ({"propertyNames": {"pattern": "^x"}}, [{"xa": 1}], [{"a": 1}]),
    ],
)
def test_keywords_mean_what_jsonschema_means(node: Any, ok: list[Any], bad: list[Any]) -> None:
    check = schema._Compiler({}).node(node)
    jsonschema = schema.validator_class()(node)
    for x in ok:
        assert check(x) and jsonschema.is_valid(x), x
    for x in bad:
        assert not check(x) and not jsonschema.is_valid(x), x


def test_an_unknown_keyword_turns_the_fast_path_off() -> None:
    code = (
        "from planrunner.plan import schema\n"
        "s = schema.schema()\n"
        "s['$defs']['qty']['multipleOf'] = 2\n"
        "print(schema._fast_check() is None, schema._fast_valid({}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# ---- mutations of the example plans --------------------------------------------------------


def _names(node: Any) -> set[str]:
    """Every property name the schema knows."""
    out: set[str] = set()
    if isinstance(node, dict):
        out |= set(node.get("properties", {}))
        for v in node.values():
            out |= _names(v)
    elif isinstance(node, list):
        for v in node:
            out |= _names(v)
    return out


def _subtrees(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, dict):
        for v in node.values():
            out += _subtrees(v)
    elif isinstance(node, list):
        for v in node:
            out += _subtrees(v)
    return out


KEYS = sorted(_names(schema.schema()))
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    1.5,
    -1,
    10**9,
    "",
    "x",
    "09:00",
    "25:00",
    "+90s",
    "+1 tick",
    "-2 ticks",
    "5m",
    "000660",
    "buy",
    "limit",
    "market",
    "NXT",
    [],
    {},
    {"order": "entry"},
    *[t for d in EXAMPLES for t in _subtrees(d)],
]


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if isinstance(node, dict | list) and node else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _containers(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _containers(v, (*path, i))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _containers(data)
        if not paths:
            break
        target = _at(data, draw(st.sampled_from(paths)))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = draw(st.sampled_from(keys))
        op = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        value = copy.deepcopy(draw(st.sampled_from(POOL)))
        if op == "replace" or (op != "delete" and isinstance(target, list)):
            target[key] = value
        elif op == "delete":
            del target[key]
        elif op == "add":
            target[draw(st.sampled_from(KEYS))] = value
        else:
            target[draw(st.sampled_from(KEYS))] = target.pop(key)
    return data


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_examples_agree_with_jsonschema(data: Any) -> None:
    _same(data)
