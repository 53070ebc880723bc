"""Bench scripts (bench/NAME.py) under test: loaded as a module, the way it imports its
neighbours, or run as the program it is."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))  # a bench script imports its neighbours (summary, ...)
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def run(name: str, *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    """`python bench/NAME.py ARGS`, its output captured as text."""
    return subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output(name: str, *args: str, timeout: float = 120) -> str:
    """What `bench/NAME.py ARGS` prints; it must exit 0."""
    done = run(name, *args, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass(frozen=True)
class Totals:
    totals: dict[str, Any]  # the last line of its output, `--json`
    out: str  # all it printed, for a failing assertion's message
    returncode: int


def run_json(name: str, *args: str, timeout: float = 280) -> Totals:
    """`bench/NAME.py ARGS --json`: the totals it ends with, all it printed, its exit code."""
    done = run(name, *args, "--json", timeout=timeout)
    out = done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, out
    return Totals(json.loads(lines[-1]), out, done.returncode)
