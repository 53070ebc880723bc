"""The exception root and the plan-problem value.

PlanrunnerError
├── PlanError            one or more Problems in plan files (exit 1)
├── UsageError           a command used wrongly: bad flags, missing keys (exit 1)
├── RunError             the run could not go on: lock held, non-trading day (exit 2)
└── BrokerError          anything the broker said or did not say (exit 2);
                         the tree below it lives in planrunner.kiwoom.exceptions
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Every exit code planrunner ends with, the one table of them."""

    OK = 0
    PLAN = 1  # a plan problem or a command used wrongly
    DIFFERENT = 1  # `planrunner diff`: the two plans differ (as diff(1) says it)
    ATTENTION = 2  # the run could not go on, or something needs the trader's attention
    INTERNAL = 3  # a bug: the traceback is in a crash log
    INTERRUPTED = 130  # Ctrl-C (or SIGTERM) before the run ended


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a plan, pinned to where the user wrote it."""

    file: str
    line: int
    col: int
    path: str  # JSON path, "$.orders.entry.price"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.path, self.message)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
        }


class PlanrunnerError(Exception):
    """Root of every error planrunner raises on purpose."""


class PlanError(PlanrunnerError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=Problem.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(PlanrunnerError):
    pass


class RunError(PlanrunnerError):
    pass


class BrokerError(PlanrunnerError):
    pass
