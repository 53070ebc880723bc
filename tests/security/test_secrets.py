"""Keys and tokens never leave the token cache (DESIGN.md §4).

Plans run in every mode against the simulator with distinctive fake keys; the app key,
the secret key and every token issued must appear nowhere in stdout, stderr, the
journal, the log records, crash logs or any other file under the state dir, except the
token cache file itself, which is mode 0600 in a directory only its owner can enter.

- `--sim`: the embedded simulator, in-process through click's CliRunner; its keys are
  fixed non-secrets, but the token it issues must not show either (taken from the
  connected target, which a wrapper around `launch.build_sim` keeps: observation only).
- `--dry-run --base-url`: `planrunner run` and `planrunner sim` as two processes.
- live: there is no `--live --base-url`, so the live code path's client
  (`KiwoomClient(env="live")`, with the token cache `build_remote` gives it) is driven
  through a live-playing simulator's in-process transport.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from planrunner.app import launch
from planrunner.app.targets import Target, build_sim
from planrunner.cli import cli
from planrunner.clock import SEOUL, VirtualClock
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient
from planrunner.sim import Simulator
from tests.support.loopback import SimProcess, run_cli
from tests.support.plan_text import chain

APPKEY = "APPKEY-canary-7f3a9c2e51d04b6b8e"
SECRETKEY = "SECRET-canary-0d94e1a7b3c65f28aa"
KEYS = {"KIWOOM_APPKEY": APPKEY, "KIWOOM_SECRETKEY": SECRETKEY}

PLAN = chain("secrets")


class Records(logging.Handler):
    """Every log record of planrunner, at every level, formatted as a handler would."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info:
            text += self.formatter.formatException(record.exc_info)  # type: ignore[union-attr]
        self.lines.append(text)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("planrunner")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    p = tmp_path / "plan" / "secrets.yaml"
    p.parent.mkdir()
    p.write_text(PLAN)
    return p


def token_files(state: Path) -> list[Path]:
    d = state / "tokens"
    return sorted(p for p in d.glob("*.json")) if d.is_dir() else []


def leaks(secrets: list[str], texts: dict[str, str], tree: Path, skip: set[Path]) -> list[str]:
    """Where any secret shows: in the named texts, or in any file under `tree` but `skip`."""
    secrets = [s for s in secrets if s]
    assert secrets
    found = [f"{s[:14]}… in {where}" for where, t in texts.items() for s in secrets if s in t]
    for path in sorted(tree.rglob("*")):
        if path.is_file() and path not in skip:
            data = path.read_bytes()
            found += [f"{s[:14]}… in {path}" for s in secrets if s.encode() in data]
    return found


def assert_cache_is_private(state: Path) -> list[Path]:
    files = token_files(state)
    assert files, f"no token cache under {state}"
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f"{f} is {oct(f.stat().st_mode)}"
    mode = stat.S_IMODE((state / "tokens").stat().st_mode)
    assert mode & 0o077 == 0, f"{state / 'tokens'} is {oct(mode)}: others can list it"
    # no temp file of the atomic write left behind
    assert [p.name for p in (state / "tokens").iterdir()] == [f.name for f in files]
    return files


# ---- --sim ---------------------------------------------------------------------------------


def test_sim_run_shows_no_key_and_no_token(
    tmp_path: Path, plan: Path, records: Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets: list[Target] = []
    real_build_sim = build_sim  # what launch calls

    def keep(*args: Any, **kwargs: Any) -> Target:
        target = real_build_sim(*args, **kwargs)
        targets.append(target)
        return target

    monkeypatch.setattr(launch, "build_sim", keep)  # observes; the real simulator runs
    state = tmp_path / "state"
    env = {**KEYS, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    result = CliRunner().invoke(
        cli, ["run", str(plan), "--sim", "--speed", "4", "--state-dir", str(state)], env=env
    )
    assert result.exit_code == 0, result.output
    status = CliRunner().invoke(
        cli, ["status", str(plan), "--state-dir", str(state), "--format", "json"], env=env
    )
    assert status.exit_code == 0, status.output

    (target,) = targets
    sim = target.simulator
    assert isinstance(sim, Simulator)
    tokens = {target.client.tokens.held_value(), *getattr(sim.auth, "_tokens", {})}
    assert sim.auth.issued >= 1 and all(tokens), tokens
    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "status": status.output,
        "log records": "\n".join(records.lines),
        "simulator log": repr(sim.log_snapshot()),
        "repr(client)": repr(target.client) + repr(target.client.tokens),
    }
    assert "acked cancel" in result.stdout  # the run did happen
    # the embedded simulator's keys are fixed non-secrets; checked all the same
    found = leaks([*tokens, "sim-secretkey", APPKEY, SECRETKEY], texts, tmp_path, {plan})
    assert found == []
    assert token_files(state) == []  # the embedded simulator's token is never cached


# ---- --dry-run --base-url (loopback) -------------------------------------------------------


def test_dry_run_on_loopback_shows_no_key_and_no_token(tmp_path: Path, plan: Path) -> None:
    sim = SimProcess()
    try:
        state = tmp_path / "state"
        env = {**KEYS, "XDG_STATE_HOME": str(tmp_path / "xdg")}
        args = ["--base-url", sim.url, "--state-dir", str(state)]
        first = run_cli("run", str(plan), "--dry-run", *args, env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        # a second run resumes from the journal and takes the token from the cache
        again = run_cli("run", str(plan), "--dry-run", *args, env=env)
        status = run_cli("status", str(plan), "--state-dir", str(state), env=env)
        failing = run_cli("run", str(plan), "--dry-run", "--base-url", "http://127.0.0.1:9",
                          "--state-dir", str(tmp_path / "state2"), env=env)  # fmt: skip
        sim_log = repr(sim.get("log"))
        sim_status = repr(sim.get("status"))
    finally:
        sim.close()

    (cache,) = assert_cache_is_private(state)
    token = json.loads(cache.read_text())["token"]
    assert token and token not in (APPKEY, SECRETKEY)
    assert "acked cancel" in first.stdout
    texts = {
        "stdout": first.stdout,
        "stderr": first.stderr,
        "stdout (resumed)": again.stdout,
        "stderr (resumed)": again.stderr,
        "status": status.stdout + status.stderr,
        "unreachable run": failing.stdout + failing.stderr,
        "simulator request log": sim_log,
        "simulator status": sim_status,
    }
    assert leaks([APPKEY, SECRETKEY, token], texts, tmp_path, {cache, plan}) == []
    # the cache file is named by a hash, never by the key
    assert APPKEY not in cache.name and cache.name.startswith("mock-")


# ---- the live code path's client -----------------------------------------------------------


def test_live_client_shows_no_key_and_no_token(tmp_path: Path, records: Records) -> None:
    clock = VirtualClock(dt.datetime(2026, 11, 26, 9, 30, tzinfo=SEOUL), 1.0)
    sim = Simulator(clock=clock, env="live")
    state = tmp_path / "state"
    client = KiwoomClient(
        appkey=APPKEY,
        secretkey=SECRETKEY,
        env="live",  # base URL api.kiwoom.com, but every byte goes to the in-process sim
        transport=sim.transport(),
        token_cache_dir=state / "tokens",  # where build_remote puts it
        clock=clock,
    )
    errors: list[str] = []
    with client:
        placed = client.place("005930", "buy", 10, 69000, "limit")
        modified = client.modify(placed.ord_no, "005930", 69100)
        client.cancel(modified.ord_no, "005930")
        client.open_orders()
        client.fills()
        client.quote("005930")
        for bad in (lambda: client.cancel(placed.ord_no, "005930"),  # superseded number
                    lambda: client.modify("9999999", "005930", 69100)):  # fmt: skip
            try:
                bad()
            except e.KiwoomError as exc:
                errors.append(f"{exc!s} {exc!r} {exc.broker_message}")
        assert errors, "the bad requests were not refused"
        sim.expire_tokens()  # 8005 → one refresh, written to the cache
        client.quote("005930")
        (cache,) = assert_cache_is_private(state)
        tokens = {*getattr(sim.auth, "_tokens", {}), client.tokens.held_value()}
        tokens.add(json.loads(cache.read_text())["token"])
        assert client.tokens.issued == 2
        client.revoke()
    texts = {
        "log records": "\n".join(records.lines),
        "exceptions": "\n".join(errors),
        "reprs": repr(client) + repr(client.tokens) + repr(placed) + repr(modified),
        "simulator log": repr(sim.log_snapshot()),
    }
    assert any("token issued" in line for line in records.lines)  # logging was on
    assert leaks([APPKEY, SECRETKEY, *tokens], texts, tmp_path, set()) == []
    assert token_files(state) == []  # revoke removed the cache


def test_state_dir_modes_are_reported(tmp_path: Path, plan: Path) -> None:
    """What the journal and its directory look like to other users (reported, and the
    journal itself must be private: it names orders and accounts' activity)."""
    state = tmp_path / "state"
    old = os.umask(0o022)
    try:
        done = CliRunner().invoke(
            cli,
            ["run", str(plan), "--sim", "--speed", "4", "--state-dir", str(state)],
            env={"XDG_STATE_HOME": str(tmp_path / "xdg")},
        )
    finally:
        os.umask(old)
    assert done.exit_code == 0, done.output
    (journal,) = state.glob("secrets/*.jsonl")
    assert stat.S_IMODE(journal.stat().st_mode) & 0o077 == 0, oct(journal.stat().st_mode)
