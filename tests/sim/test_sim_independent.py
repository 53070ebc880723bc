"""The simulator is an independent reading of the wire format: it never imports the client."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_simulator_imports_nothing_from_planrunner_kiwoom() -> None:
    code = (
        "import sys, json\n"
        "import planrunner.sim, planrunner.sim.server, planrunner.sim.transport\n"
        "from planrunner.sim import Simulator\n"
        "Simulator().handle('POST', '/oauth2/token', {}, b'{}')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('planrunner.kiwoom'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
