"""`planrunner sim` and `planrunner run` as separate processes, talking over 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FAKE_KEYS = {"KIWOOM_APPKEY": "loopback-appkey-0001", "KIWOOM_SECRETKEY": "loopback-secret-0001"}
ROOT = Path(__file__).resolve().parents[2]

# `planrunner ARGS` with the test seams (crash points, settle time) read from the
# environment: tests/support/entry.py. The product itself never reads them.
RUNNER = [sys.executable, "-m", "tests.support.entry"]
# `planrunner ARGS`: the product alone, no test seams.
PLANRUNNER = [sys.executable, "-m", "planrunner"]


def runner_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for RUNNER: fake keys, and this checkout importable as `tests`.
    After a crash the restart waits for requests that may still be in flight for 0.5 s
    (the loopback simulator answers in milliseconds), not the client's 13 s timeout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    seams = {"PLANRUNNER_IN_FLIGHT_SECONDS": "0.5"}
    return {**os.environ, **FAKE_KEYS, "PYTHONPATH": path, **seams, **(env or {})}


class SimProcess:
    """`planrunner sim --port 0 ARGS` in its own process on 127.0.0.1; control over /_sim/.
    The one harness for tests and benches (bench/ imports it: the support package is
    what both share, and tests never import a bench script to use it). `stderr`: where
    the simulator's own messages go (a pipe read at close, DEVNULL, None to inherit)."""

    def __init__(self, *args: str, stderr: int | None = subprocess.PIPE, cwd: Path | None = None):
        self.proc = subprocess.Popen(
            [*PLANRUNNER, "sim", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=cwd,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"planrunner sim did not print its URL (got {self.url!r})")
        self.port = int(self.url.rsplit(":", 1)[1])

    def get(self, what: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/_sim/{what}", timeout=30) as r:
            return json.loads(r.read())

    def post(self, what: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            f"{self.url}/_sim/{what}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def order_requests(self) -> list[dict[str, Any]]:
        """Order POSTs the simulator committed, oldest first."""
        log = self.get("log")
        entries = log["log"] if isinstance(log, dict) else log
        return [
            e
            for e in entries
            if e["api_id"] in ("kt10000", "kt10001", "kt10002", "kt10003") and e.get("committed")
        ]

    def wait_requests(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """The order requests once there are `count` of them, or when `timeout` seconds
        have passed (fewer, then: the caller asserts what it needs)."""
        deadline = time.monotonic() + timeout
        while len(self.order_requests()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.order_requests()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def dry_run(plan: Path, url: str, state: Path, *more: str) -> list[str]:
    """The arguments of `run PLAN --dry-run` against the simulator at `url`, the journal
    under `state`."""
    return ["run", str(plan), "--dry-run", "--base-url", url, "--state-dir", str(state), *more]


def start_planrunner(
    *args: str, seams: bool = False, env: dict[str, str] | None = None, merged: bool = False
) -> subprocess.Popen[str]:
    """`planrunner ARGS` started with fake keys (and `env`), its output piped as text: the
    product alone (PLANRUNNER), or with `seams` the test seams too (RUNNER, `runner_env`).
    `merged`: its stderr in its stdout, in the order written (read it with `read_until`)."""
    if seams:
        command, environ = [*RUNNER, *args], runner_env(env)
    else:
        command, environ = [*PLANRUNNER, *args], {**os.environ, **FAKE_KEYS, **(env or {})}
    stderr = subprocess.STDOUT if merged else subprocess.PIPE
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environ)


def read_until(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """The lines `proc` prints up to the first with `needle` in it, that one included; an
    AssertionError naming what it did print if it ends first."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never printed: {lines}")


@contextlib.contextmanager
def ending(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """`with ending(start_runner(...)) as proc:` the process is killed at the block's end
    if it still runs then (a failed assertion must not leave it behind)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNNER, *args],
        capture_output=True,
        text=True,
        env=runner_env(env),
        timeout=timeout,
        cwd=cwd,
    )


def rehearse(
    tmp: Path, plan: str, scenario: str, *more: str, speed: float = 400, fmt: str = "json"
) -> subprocess.CompletedProcess[str]:
    """`planrunner run` (RUNNER) of the plan text `plan` on the embedded simulator playing
    the market text `scenario` (both written under `tmp`) at `speed`, printing `fmt`, the
    journal under `tmp/state`; `more`: other options."""
    plan_file = tmp / "plan.yaml"
    plan_file.write_text(plan)
    scenario_file = tmp / "scenario.yaml"
    scenario_file.write_text(scenario)
    return run_cli(
        *("run", str(plan_file), "--scenario", str(scenario_file), "--speed", f"{speed:g}"),
        *("--format", fmt, "--state-dir", str(tmp / "state"), *more),
    )
