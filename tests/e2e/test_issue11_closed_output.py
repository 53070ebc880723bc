"""Output failures never touch orders (issue 11, item 7).

`planrunner run … | head -6`: printing "sent" after a successful POST raised
BrokenPipeError; the placed order was journaled failed with no ack, its later jobs (the
final cancel included) never ran, and with stderr broken too SIGTERM could not stop the
run. Here `planrunner run --sim` runs as a subprocess whose stdout (and stderr) pipe is
closed after its first lines; the journal, written before and after every request, is
the truth about what the embedded simulator was sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback import FAKE_KEYS, read_until, start_planrunner
from tests.support.plan_text import plan_of

# A process started with stdout closed gets libfaketime's shared-memory file as its fd 1
# and prints into it, breaking the moved clock of every later process: CI's shifted-date
# runs skip these (they run in the real-clock stage).
pytestmark = pytest.mark.real_clock

ROOT = Path(__file__).resolve().parents[2]
PLAN = plan_of(
    "closed",
    'entry: {symbol: "005930", side: buy, qty: 10, price: 60000, at: "+2s"}',
    steps=(
        '{at: "+4s", modify: {order: entry, price: 60100}}',
        '{at: "+6s", cancel: {order: entry}}',
    ),
)


def _start(tmp_path: Path, plan_text: str, *args: str) -> subprocess.Popen[str]:
    plan = tmp_path / "closed.yaml"
    plan.write_text(plan_text)
    state = ("--state-dir", str(tmp_path / "s"))
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT)}
    return start_planrunner("run", str(plan), "--sim", *state, *args, env=env)


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _journal(tmp_path: Path) -> list[dict[str, Any]]:
    files = sorted((tmp_path / "s").rglob("*.jsonl"))
    if not files:
        return []
    return [json.loads(x) for x in files[-1].read_text().splitlines() if x.strip()]


def test_issue11_item7_a_closed_stdout_leaves_every_job_to_run(tmp_path: Path) -> None:
    proc = _start(tmp_path, PLAN, "--speed", "4")
    try:
        # like `| head`: read up to the last "scheduled" line, then close the pipe, so
        # the first line that fails is "sent", printed just after the place's POST
        read_until(proc, "scheduled cancel")
        assert proc.stdout is not None
        proc.stdout.close()
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        _end(proc)
    records = _journal(tmp_path)
    acks = [r["job"] for r in records if r["type"] == "ack"]
    assert len(acks) == 3 and acks[0] == "entry.place" and "cancel" in acks[2], records
    assert not [r for r in records if r["type"] == "failed"], records
    assert any(r["type"] == "output" for r in records), records
    assert records[-1]["type"] == "stop" and records[-1]["exit_code"] == 0
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_issue11_item7_sigterm_stops_a_run_whose_stdout_and_stderr_are_closed(
    tmp_path: Path,
) -> None:
    slow = PLAN.replace('at: "+6s"', 'at: "+1h"')
    proc = _start(tmp_path, slow, "--speed", "2")
    try:
        read_until(proc, "scheduled cancel")
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
        deadline = time.monotonic() + 30
        while not any(r["type"] == "ack" for r in _journal(tmp_path)):  # the place is in
            assert proc.poll() is None and time.monotonic() < deadline, _journal(tmp_path)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        _end(proc)
    records = _journal(tmp_path)
    assert records[-1]["type"] == "stop", records
    assert code == records[-1]["exit_code"] != 0
    assert next(r["job"] for r in records if r["type"] == "ack") == "entry.place"
    assert not [r for r in records if r["type"] == "failed"], records


def test_issue11_item7_the_journal_that_noted_a_closed_output_can_be_read_again(
    tmp_path: Path,
) -> None:
    # Found by bench/faults.py (`| head -1`): the run went on and wrote its "output"
    # record, but every later reader of the journal (status, cancel-all, a resume)
    # refused it as a malformed record: the one record of the run became unreadable.
    from planrunner.engine.journal import Journal, replay

    path = tmp_path / "closed" / "2026-12-03.sim.jsonl"
    path.parent.mkdir()
    with Journal(path) as journal:
        journal.open()
        journal.append({"type": "output", "error": "BrokenPipeError: [Errno 32] Broken pipe"})
        journal.append({"type": "intent", "job": "entry.place", "req": 0, "order": "entry"})
        journal.append({"type": "ack", "job": "entry.place", "req": 0, "order": "entry"
                        , "kind": "place", "ord_no": "0000001", "qty": 10})  # fmt: skip
    again = replay(path)
    assert [r["type"] for r in again.records] == ["output", "intent", "ack"]
    assert [ln.ord_no for ln in again.lineage["entry"]] == ["0000001"]
    with Journal(path) as resumed:  # a resume reads it the same way
        assert resumed.open().lineage["entry"][0].ord_no == "0000001"


def test_issue11_item7_a_run_started_with_stdout_and_stderr_closed_exits_as_journaled(
    tmp_path: Path,
) -> None:
    # Found by bench/faults.py: `planrunner run PLAN >&- 2>&-` ran every job, journaled
    # exit 0, then ended with "internal error" exit 1 (Python's sys.stdout was None), and
    # the journal could have been opened as descriptor 1 or 2 and received the output.
    plan = tmp_path / "closed.yaml"
    plan.write_text(PLAN)
    env = {**os.environ, **FAKE_KEYS, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONFAULTHANDLER", None)  # it needs a stderr

    def close_outputs() -> None:
        os.close(1)
        os.close(2)

    code = subprocess.run(
        [sys.executable, "-m", "planrunner", "run", str(plan), "--sim", "--speed", "4",
         "--state-dir", str(tmp_path / "s")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env, preexec_fn=close_outputs, timeout=60,
    ).returncode  # fmt: skip
    records = _journal(tmp_path)  # every line is a record: nothing printed landed in it
    acks = [r["job"] for r in records if r["type"] == "ack"]
    assert len(acks) == 3 and acks[0] == "entry.place" and "cancel" in acks[2], records
    assert records[-1]["type"] == "stop" and records[-1]["exit_code"] == 0, records
    assert code == 0, records
