"""What a user reads: the plan language reference covers the whole schema, and nothing
shipped sends the reader to a file the project does not contain."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "plans.md"
SCHEMA = ROOT / "planrunner" / "schemas" / "plan.schema.json"

# Files a user of planrunner does not have: the design notes, the broker guide and the
# wire notes it was built from, the workspace they lived in.
FOREIGN = re.compile(
    r"DESIGN\.md|STYLE\.md|kiwoom-wire|modify-cancel-guide|\.\./shared|/work/shared"
    r"|reference/|\bthe guide\b|\bguide's\b|\bguide:",
    re.IGNORECASE,
)


def _properties(node: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every (property name, where) under any `properties` of the schema, recursively."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    yield name, f"{path}.properties.{name}"
                    yield from _properties(sub, f"{path}.properties.{name}")
            else:
                yield from _properties(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{path}[{i}]")


def test_issue16_item1_reference_names_every_schema_property() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    found = list(_properties(json.loads(SCHEMA.read_text(encoding="utf-8"))))
    assert len({name for name, _ in found}) > 40  # the walk reached the nested definitions
    missing = sorted({f"{name} ({where})" for name, where in found if f"`{name}`" not in text})
    assert missing == [], "docs/plans.md does not describe: " + ", ".join(missing)


def test_issue16_item1_reference_covers_forms_actions_triggers_policy_scenarios() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for heading in (
        "## Values",
        "### `place`",
        "### `modify`",
        "### `cancel`",
        "### `market`",
        "### `replace`",
        "### `ladder`",
        "## Triggers",
        "## Policy",
        "## Rehearsal scenarios",
    ):
        assert heading in text
    for form in ('"+90s"', '"09:30:05"', "+1 tick", "-2 ticks", "500ms"):
        assert form in text


def _shipped() -> Iterator[Path]:
    yield ROOT / "README.md"
    yield ROOT / "pyproject.toml"
    for top in ("docs", "planrunner", "plans"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and p.suffix not in {".pyc", ".png"} and "__pycache__" not in p.parts:
                yield p


def test_issue16_item1_no_shipped_file_names_a_file_outside_the_project() -> None:
    hits = []
    for p in _shipped():
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if FOREIGN.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []


def test_issue16_item1_help_texts_name_no_file_outside_the_project() -> None:
    from click.testing import CliRunner

    from planrunner.cli import cli
    from planrunner.cli.group import COMMAND_MODULES

    names = ["", *sorted(COMMAND_MODULES)]
    for name in names:
        args = [name, "--help"] if name else ["--help"]
        out = CliRunner().invoke(cli, args).stdout
        assert not FOREIGN.search(out), name
        assert "planrunner/" not in out, f"{name} --help points into the source"


def test_issue16_item1_reference_examples_are_valid(tmp_path: Path) -> None:
    """The complete plan of docs/plans.md validates and shows, as a user would copy it."""
    from click.testing import CliRunner

    from planrunner.cli import cli

    blocks = re.findall(r"```yaml\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.S)
    plans = [b for b in blocks if "\nversion: 1\n" in b and "\norders:\n" in b]
    assert plans
    for i, text in enumerate(plans):
        f = tmp_path / f"example{i}.yaml"
        f.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["show", str(f), "--date", "2026-11-26"])
        assert result.exit_code == 0, result.output
