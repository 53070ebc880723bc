"""The layer rules in pyproject.toml ([tool.importlinter]) hold, and they can fail.

`.ci/run` runs `lint-imports` on the package; this test runs it on a copy of the package
with one deliberate violation (the tick grid importing the command line), so a contract
that no longer checks anything would be noticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "planrunner", tmp_path / "planrunner")
    return tmp_path


def test_the_layers_hold_on_a_copy_of_the_package(package_copy: Path) -> None:
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_deliberate_violations_are_refused(package_copy: Path) -> None:
    # A lower layer importing a higher one, and click outside the command line.
    ticks = package_copy / "planrunner" / "krx" / "ticks.py"
    ticks.write_text(ticks.read_text() + "\nimport planrunner.cli.group  # noqa: E402\n")
    days = package_copy / "planrunner" / "krx" / "days.py"
    days.write_text(days.read_text() + "\nimport click  # noqa: E402\n")
    result = _lint(package_copy)
    assert result.returncode != 0
    assert "planrunner.krx.ticks -> planrunner.cli.group" in result.stdout
    assert "click only in the command line BROKEN" in result.stdout
    assert "APScheduler only in the runner KEPT" in result.stdout
