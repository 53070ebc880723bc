"""The schema file: shipped in the package, complete, and one clear line per mistake."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator

from planrunner.plan.load import load_file
from planrunner.plan.schema import schema, schema_text
from tests.support.plan_text import BASE, problems

ROOT = Path(__file__).resolve().parents[2]


def test_schema_ships_in_the_package_and_is_the_repo_file() -> None:
    shipped = resources.files("planrunner").joinpath("schemas/plan.schema.json").read_text()
    assert shipped == schema_text() == (ROOT / "schemas" / "plan.schema.json").read_text()
    Draft202012Validator.check_schema(schema())
    assert schema()["$id"].startswith("https://")


def _walk(node: Any, path: str = "#") -> list[str]:
    """Paths of object schemas that allow extra keys, and properties without description."""
    bad = []
    if isinstance(node, dict):
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                bad.append(f"{path}: additionalProperties")
            bad += [
                f"{path}/{k}: description"
                for k, v in node["properties"].items()
                if "description" not in v
            ]
        for k, v in node.items():
            bad += _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad += _walk(v, f"{path}/{i}")
    return bad


def test_every_property_has_a_description_and_no_extra_keys() -> None:
    assert _walk(schema()) == []


def test_every_example_is_valid_for_the_bare_schema() -> None:
    v = Draft202012Validator(schema())
    for f in sorted((ROOT / "plans").glob("*.yaml")):
        assert list(v.iter_errors(load_file(f).data)) == [], f


ORDER = "\n".join(BASE.splitlines()[:4])  # up to "  entry:"

INVALID = [
    (
        "version: 2\nname: t\norders: {a: {symbol: '005930', side: buy, qty: 1, price: 100}}\n",
        ["1:10: $.version: 2 must be 1"],
    ),
    (
        BASE.replace("price: 70000", "prcie: 70000"),
        ["8:5: $.orders.entry.prcie: unknown key 'prcie' (did you mean 'price'?)"],
    ),
    (
        BASE.replace('at: "09:00:05"', 'at: "25:00"'),
        [
            '9:9: $.orders.entry.at: \'25:00\' is not a time: write "HH:MM", "HH:MM:SS" '
            '(Asia/Seoul) or an offset from the run start such as "+90s"'
        ],
    ),
    (
        BASE.replace('symbol: "005930"', "symbol: 5930"),
        [
            "5:13: $.orders.entry.symbol: 5930 is not a stock code: write the 6 characters, "
            'e.g. "005930"'
        ],
    ),
    (
        BASE.replace("side: buy", "side: hold"),
        ["6:11: $.orders.entry.side: 'hold' is not one of: buy, sell"],
    ),
    (BASE.replace("    qty: 10\n", ""), ["4:3: $.orders.entry: missing required key 'qty'"]),
    (
        BASE + "timezone: UTC\n",
        [
            "10:11: $.timezone: 'UTC' is not supported: plans run in Asia/Seoul "
            "(the only zone of version 1)"
        ],
    ),
    (
        BASE + "steps:\n  - at: '09:30'\n    modify: {order: entry}\n",
        ["12:5: $.steps[0].modify: modify needs price, qty or both"],
    ),
    (
        BASE + "steps:\n  - at: '09:30'\n    modfy: {order: entry, price: 70100}\n",
        ["12:5: $.steps[0].modfy: unknown key 'modfy' (did you mean 'modify'?)"],
    ),
    (
        BASE + "steps:\n  - at: '09:30'\n    cancel: {order: entry}\n    market: {order: entry}\n",
        [
            "11:5: $.steps[0]: a step needs exactly one action: place, modify, cancel, market, "
            "replace or ladder"
        ],
    ),
    (
        BASE + "steps:\n  - cancel: {order: entry}\n",
        ["11:5: $.steps[0]: missing required key 'at'"],
    ),
    (
        BASE + "steps:\n  - at: '09:30'\n    modify: {order: entry, price: 1 tick}\n",
        [
            "12:35: $.steps[0].modify.price: '1 tick' is not a price: write won as an integer "
            '(70000) or a tick offset ("+1 tick", "-2 ticks")'
        ],
    ),
    (
        BASE + "triggers:\n  - when: {price: {symbol: '005930', below: 1, above: 2}}\n"
        "    market: {order: entry}\n",
        [
            "11:12: $.triggers[0].when.price: a price condition needs exactly one of: below, "
            "above, at_or_below, at_or_above"
        ],
    ),
    (
        BASE + "policy: {on_late: skipp, misfire_grace: 0s}\n",
        [
            "10:19: $.policy.on_late: 'skipp' is not one of: skip, fail, {place: WINDOW} (send a "
            "late job when it is at most WINDOW late, e.g. {place: 10m})",
            "10:41: $.policy.misfire_grace: '0s' is not a duration: write 500ms, 30s, 5m or 1h",
        ],
    ),
    (
        "version: 1\nname: t\norders:\n"
        "  Entry: {symbol: '005930', side: buy, qty: 1, price: 100}\n",
        [
            "4:3: $.orders.Entry: 'Entry' is not an order id: use lower-case letters, digits, "
            "'_' and '-', starting with a letter"
        ],
    ),
    (
        "version: 1\nname: t\norders: [\n",
        [
            "4:1: $: YAML syntax error: did not find expected "
            "node content (while parsing a flow node)"
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_plan_gives_exact_lines(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text) == expected


def test_schema_json_is_printable_json() -> None:
    assert json.loads(schema_text())["$schema"].endswith("2020-12/schema")
