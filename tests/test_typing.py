"""mypy checks the tests as well as the package (issue 13): `.ci/run` calls plain `mypy`,
so what it checks is what [tool.mypy] in pyproject.toml names."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mypy_config() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict[str, object] = tomllib.load(f)["tool"]["mypy"]
    return config


def test_issue13_ci_runs_mypy_from_its_config() -> None:
    lines = [line.split("#")[0].strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "mypy" in lines  # plain: the files come from [tool.mypy]


def test_issue13_mypy_checks_the_package_and_the_tests_strictly() -> None:
    config = _mypy_config()
    files = config["files"]
    assert isinstance(files, list) and {"planrunner", "tests"} <= set(files)
    assert config["strict"] is True


def test_issue13_no_mypy_override_silences_the_tests() -> None:
    """Tests need no annotations on test functions, but their bodies are checked: no
    override ignores errors or skips the bodies of unannotated functions."""
    overrides = _mypy_config().get("overrides", [])
    assert isinstance(overrides, list)
    for override in overrides:
        assert not override.get("ignore_errors"), override
        assert override.get("check_untyped_defs", True) is True, override
    [tests] = [o for o in overrides if o.get("module") == ["tests.*"]]
    assert tests["check_untyped_defs"] is True
