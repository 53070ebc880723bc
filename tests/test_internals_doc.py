"""docs/internals.md names every module of the package with its docstring: it cannot drift."""

from __future__ import annotations

from tests.support import internals


def test_every_module_is_in_the_internals_table_with_its_docstring() -> None:
    assert internals.current() == internals.table(), (
        "docs/internals.md's module table is out of date: "
        "run `python -m tests.support.internals --write`"
    )


def test_every_module_has_a_docstring() -> None:
    assert "**no docstring**" not in internals.table()
