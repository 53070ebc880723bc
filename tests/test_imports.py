"""The plan language is pure: no network, scheduler or terminal libraries."""

from __future__ import annotations

import json
import subprocess
import sys


def test_plan_language_imports_no_httpx_apscheduler_click() -> None:
    code = (
        "import sys, json\n"
        "import planrunner.plan.load, planrunner.plan.schema, planrunner.plan.rules\n"
        "import planrunner.plan.compile, planrunner.plan.show\n"
        "planrunner.plan.schema._validator()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'apscheduler', 'click'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_check_itself_would_notice_an_import() -> None:
    code = "import sys, click; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
