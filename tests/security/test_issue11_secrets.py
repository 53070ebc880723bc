"""A token can not leak (issue 11, item 12).

A broker that hands out a token ending in a space made h11 refuse the header with
"Illegal header value b'Bearer …'", and that text, token included, reached stdout, the
journal and a crash log of mode 0644. Now such a token is a clear AuthError before it is
ever sent, and every way out of the process (printed lines, journal lines, crash logs,
log records) blanks the keys and tokens the client holds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.crashlog import write_crash_log
from planrunner.cli.options import error_handler
from planrunner.clock import SEOUL
from planrunner.engine.journal import Journal
from planrunner.errors import ExitCode
from planrunner.kiwoom.token import Token, TokenFile
from planrunner.redact import RedactingFilter, redact, register
from tests.support.loopback import run_cli
from tests.support.plan_text import plan_of

APPKEY = "APPKEY-issue11-item12-5d1c"
SECRETKEY = "SECRET-issue11-item12-9a7e"
TOKEN = "TOKEN-issue11-item12-trailing-space-3b8f"
PLAN = plan_of(
    "leak",
    'entry: {symbol: "005930", side: buy, qty: 1, price: 69000, at: "+1s"}',
    steps=('{at: "+2s", cancel: {order: entry}}',),
)


class _Broker(BaseHTTPRequestHandler):
    """Kiwoom-shaped enough to hand out a token that ends in a space."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        api = self.headers.get("api-id", "")
        body: dict[str, Any] = {"return_code": 0, "return_msg": "ok"}
        if api == "au10001":
            body |= {"token": TOKEN + " ", "token_type": "bearer", "expires_dt": "20991231235959"}
        elif api in ("kt10000", "kt10001", "kt10003"):
            body |= {"ord_no": "0000001", "dmst_stex_tp": "KRX"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _leaks(text: str) -> list[str]:
    return [s for s in (TOKEN, APPKEY, SECRETKEY) if s in text]


def test_issue11_item12_a_token_with_a_trailing_space_is_a_clear_error_and_never_shown(
    tmp_path: Path, broker: str
) -> None:
    plan = tmp_path / "leak.yaml"
    plan.write_text(PLAN)
    done = run_cli(
        "run", str(plan), "--dry-run", "--base-url", broker, "--state-dir", str(tmp_path / "s"),
        env={
            "KIWOOM_APPKEY": APPKEY,
            "KIWOOM_SECRETKEY": SECRETKEY,
            "XDG_STATE_HOME": str(tmp_path / "xdg"),
        },
        timeout=60,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "token cannot be sent in an HTTP header" in out, out
    assert "Traceback" not in out and "internal error" not in out, out
    assert _leaks(out) == []
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.name != "leak.yaml":
            assert _leaks(f.read_text(errors="replace")) == [], f


def test_issue11_item12_journal_lines_and_crash_logs_are_scrubbed(tmp_path: Path) -> None:
    secret = "TOKEN-issue11-item12-journal-77c1"
    register(secret)
    quoted = f"LocalProtocolError: Illegal header value b'Bearer {secret} '"
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.open()
        journal.append({"type": "failed", "job": "entry.place", "reason": quoted})
    text = (tmp_path / "j.jsonl").read_text()
    assert secret not in text and "Illegal header value b'Bearer ***" in text
    log = write_crash_log(f"Traceback…\n{quoted}\n{json.dumps(secret)}", tmp_path)
    assert log.parent == tmp_path / "logs" and log.name.startswith("crash-")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert secret not in log.read_text()


def test_a_bug_caught_by_the_command_line_is_logged_by_the_same_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "SECRET-issue13-crashlog-5e0d"
    register(secret)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as ended, error_handler():
        raise RuntimeError(f"a bug holding {secret}")
    assert ended.value.code == ExitCode.INTERNAL
    err = capsys.readouterr().err
    (log,) = (tmp_path / "planrunner" / "logs").glob("crash-*.log")
    assert f"(traceback in {log})" in err and secret not in err
    text = log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "RuntimeError: a bug holding" in text and secret not in text


def test_issue11_item12_log_records_are_scrubbed(tmp_path: Path) -> None:
    secret = "SECRET-issue11-item12-logrec-41aa"
    register(secret)
    stream = tmp_path / "log.txt"
    handler = logging.FileHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("planrunner.test-issue11")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"value {secret!r} refused")
        except ValueError:
            logger.warning("call failed with %s", secret, exc_info=True)
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = stream.read_text()
    assert secret not in text and "call failed with ***" in text


def test_issue11_item12_secrets_are_blanked_in_every_quoted_form() -> None:
    secret = "tok\u00e9n-issue11-item12-forms"
    register(secret)
    for form in (secret, repr(secret), repr(secret.encode()), json.dumps(secret)):
        assert "item12-forms" not in redact(f"said {form} here"), form
    assert redact("short words stay") == "short words stay"


def test_issue11_item12_a_cached_token_that_cannot_be_a_header_is_ignored(tmp_path: Path) -> None:
    cache = TokenFile(tmp_path / "t.json")
    expires = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=SEOUL)
    cache.save(Token(value="TOKEN-cached-ok", expires=expires))
    assert cache.load() is not None
    cache.save(Token(value="TOKEN-cached-with-space ", expires=expires))
    assert cache.load() is None
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600


def test_a_crash_log_that_cannot_go_under_the_state_dir_goes_to_the_temp_dir(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the state directory should be")
    log = write_crash_log("Traceback… a bug", blocked)
    try:
        assert log.parent != blocked and log.name.startswith("planrunner-crash-")
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert log.read_text().endswith("Traceback… a bug")
    finally:
        log.unlink()
