"""Plan text -> plain data + where each value was written: the shared strict YAML reader
(`planrunner/yamlfile.py`: plan resolvers, duplicate keys refused, bounded input, line
and column of every value) with a plan's wording, and the garbage collector paused while
plans are read.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path

from planrunner import yamlfile
from planrunner.yamlfile import MAX_BYTES, MAX_VALUES, Loaded, child_path

__all__ = [
    "MAX_BYTES",
    "MAX_VALUES",
    "Loaded",
    "child_path",
    "load_file",
    "load_text",
    "paused_gc",
    "read_plan_bytes",
]


def load_text(text: str, file: str = "<plan>") -> Loaded:
    """Parse one plan; every failure is a Problem in the result, never an exception."""
    return yamlfile.load_text(text, file, what="plan")


def load_file(path: str | Path) -> Loaded:
    """Read and parse a plan file; unreadable files are Problems too."""
    return yamlfile.load_file(path, what="plan")


def read_plan_bytes(path: str | Path) -> bytes:
    """The bytes of a plan file: a regular file of at most MAX_BYTES (ValueError says
    why not)."""
    return yamlfile.read_bounded(path, what="plan")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while plans are read, checked, compiled and
    printed (`validate`, `show`, `diff`). A plan becomes many small objects that all live
    to the end of the command, and the collector would scan them again and again as they
    pile up: with it, a 50,000-step plan cost ~7x a 10,000-step one, and ~40 % of the
    time was the collector's. Almost nothing a plan builds is cyclic (reference counting
    frees the rest as usual), and input is bounded (MAX_BYTES, MAX_VALUES), so the
    memory held meanwhile is bounded too. `PLANRUNNER_GC=default` keeps Python's own
    setting (to compare: bench/scaling.py --no-gc-fix)."""
    if not gc.isenabled() or os.environ.get("PLANRUNNER_GC") == "default":
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
