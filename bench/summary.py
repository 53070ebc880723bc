"""Headline figures a bench hands to bench/run.py.

Every bench takes `--summary FILE` and, when it ends, writes FILE as a JSON list:

    [{"figure": "client: p50 per call", "goal": "< 2 ms", "measured": "1.30 ms", "met": true}]

`met` is true or false, or null when the run cannot tell (a goal set for a larger count
than the run used, e.g. "200 runs < 10 min" after 20 runs). The option changes nothing
else: a bench prints and writes its own section of docs/performance.md as before.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A bench runs as `python bench/NAME.py`: the checkout's root is made importable, for the
# support package the benches share with the tests (tests/support/loopback.py: the
# simulator in its own process). Every bench imports this module first.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEYS = ("figure", "goal", "measured", "met")


def add_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also write the headline figures to FILE as JSON (for bench/run.py)",
    )


def figure(figure: str, goal: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"figure": figure, "goal": goal, "measured": measured, "met": check_met(met)}


def check_met(met: Any) -> bool | None:
    if met is None or isinstance(met, bool):
        return met
    raise TypeError(f"met must be true, false or null, not {met!r}")


def check(rows: Any) -> list[dict[str, Any]]:
    """The rows if they are the documented shape, else ValueError."""
    if not isinstance(rows, list):
        raise ValueError("a summary is a JSON list")
    for r in rows:
        if not isinstance(r, dict) or set(r) != set(KEYS):
            raise ValueError(f"a summary row has exactly the keys {', '.join(KEYS)}: {r!r}")
        if not all(isinstance(r[k], str) for k in KEYS[:3]):
            raise ValueError(f"figure, goal and measured are strings: {r!r}")
        if r["met"] is not None and not isinstance(r["met"], bool):
            raise ValueError(f"met is true, false or null: {r!r}")
    return rows


def write(path: Path | None, rows: Iterable[dict[str, Any]]) -> None:
    """Write the rows to `path` (nothing when the bench was run without --summary)."""
    if path is None:
        return
    out = check(list(rows))
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read(path: Path) -> list[dict[str, Any]]:
    return check(json.loads(path.read_text(encoding="utf-8")))


def own_argv(argv: list[str]) -> list[str]:
    """argv without --no-write and --summary FILE: the command a bench's section shows."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--summary":
            skip = True
        elif a != "--no-write" and not a.startswith("--summary="):
            out.append(a)
    return out


DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def write_doc_section(name: str, text: str, doc_path: Path = DOC) -> None:
    """Replace the `## name` section of docs/performance.md with `text` (or add it at the
    end); every other section stays as it is."""
    doc = doc_path.read_text(encoding="utf-8") if doc_path.exists() else "# Performance\n"
    head, sep, rest = doc.partition(f"\n## {name}\n")
    tail = ""
    if sep:
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    body = text.rstrip("\n") + "\n"
    doc_path.write_text(f"{head.rstrip(chr(10))}\n\n## {name}\n\n{body}{tail}", encoding="utf-8")


# ---- shared by the benches ---------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
