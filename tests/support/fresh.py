"""What a fresh interpreter has imported after a few lines of code: the import rules'
tests (the plan language and the simulator load only what they may)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_after(*lines: str) -> set[str]:
    """The modules loaded in a new Python process once `lines` have run in it."""
    code = "\n".join([*lines, "import sys, json", "print(json.dumps(sorted(sys.modules)))"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))
