"""Notifications (issue 17): a rehearsal with fills, a rejection and a trigger, told to a
webhook receiver on 127.0.0.1 through apprise's `json://` form; a receiver that hangs or
refuses delays no order and is reported once.

No timing assertions: a run with a dead receiver is compared with the same run without
notifications (the same requests, each job in the same state) and every job's firing
lateness stays within the plan's grace.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.launch import RunOptions, run_plan
from planrunner.engine.events import FILL, INFO, SCHEDULED, TRIGGERED, WARNING, Event
from planrunner.engine.journal import replay
from planrunner.errors import PlanError, UsageError
from planrunner.plan.rules import load_plan
from planrunner.redact import redact

# emergency-close, compressed into ten minutes, plus a buy the account cannot pay for:
# the simulator rejects it (2110), the stop trigger fires and switches `exit` to market.
PLAN = """\
version: 1
name: notify-check
orders:
  exit: {symbol: "000660", side: sell, qty: 20, price: 205000, at: "09:00"}
  extra: {symbol: "005930", side: buy, qty: 50, price: 70000, at: "09:01"}
steps:
  - at: "09:03"
    modify: {order: exit, price: -2 ticks}
triggers:
  - id: stop
    when: {price: {symbol: "000660", below: 198000}}
    market: {order: exit}
    between: ["09:00", "09:08"]
policy:
  price_poll: 1s
  max_order_value: 5000000
"""
SCENARIO = """\
account: {cash: 1000000, holdings: {"000660": 20}}
symbols:
  "000660":
    base: 202000
    walk: false
    path:
      - ["09:00", 203000]
      - ["09:02", 205000]
      - ["09:02:40", 203000]
      - ["09:04", 203000]
      - ["09:05", 197500]
    fill: {mode: partial, max_qty: 6}
  "005930":
    base: 70000
    walk: false
    path:
      - ["09:00", 70500]
"""
SPEED = 600.0


class _Hook(ThreadingHTTPServer):
    """A webhook on 127.0.0.1: what arrived, and (for `_Held`) when to answer."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.got: list[Any] = []
        self.arrived = threading.Event()
        self.release = threading.Event()


def _hook(handler: BaseHTTPRequestHandler) -> _Hook:
    assert isinstance(handler.server, _Hook)
    return handler.server


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", 0))
        _hook(self).got.append(json.loads(self.rfile.read(size)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = _Hook(_Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_port}/hook", server.got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hanging() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield f"json://127.0.0.1:{s.getsockname()[1]}/hook"
    finally:
        s.close()


@pytest.fixture
def refusing() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return f"json://127.0.0.1:{port}/hook"


def _files(tmp: Path, notify: str = "") -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    plan = tmp / "notify-check.yaml"
    plan.write_text(PLAN + notify, encoding="utf-8")
    scenario = tmp / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    return plan, scenario


def _run(tmp: Path, *urls: str, notify: str = "", timeout: float = 5.0) -> tuple[Any, list[Event]]:
    plan, scenario = _files(tmp, notify)
    events: list[Event] = []
    opts = RunOptions(
        state_dir=tmp / "state",
        scenario=scenario,
        speed=SPEED,
        notify=urls,
        notify_timeout=timeout,
    )
    result = run_plan(plan, opts, emit=events.append, stop=threading.Event())
    return result, events


def _messages(got: list[dict[str, Any]]) -> list[str]:
    return [re.sub(r"^\d\d:\d\d:\d\d ", "", m["message"]) for m in got]  # no stamp


def _kind(text: str) -> str:
    for prefix, kind in (
        ("rejected: ", "rejected"),
        ("part filled: ", "fill"),
        ("filled: ", "fill"),
        ("trigger ", "trigger"),
        ("needs attention:", "attention"),
        ("notify-check ended", "end"),
    ):
        if text.startswith(prefix):
            return kind
    return "market" if "switched to a market order" in text else text


def test_issue17_notify_messages_arrive_in_order(tmp_path, receiver):
    url, got = receiver
    result, _events = _run(tmp_path, url)
    assert result.exit_code == 2  # the rejected buy needs attention
    assert {m["title"] for m in got} == {"planrunner: notify-check"}
    texts = _messages(got)
    kinds = [_kind(t) for t in texts]
    # The rejection, the fill(s) at the offer, the trigger, the switch, the market fill,
    # then the end: what needs attention and the summary line.
    order = r"rejected (fill )+trigger market (fill )+attention end"
    assert re.fullmatch(order, " ".join(kinds)), texts
    rejected = texts[0]
    offer = texts[1 : kinds.index("trigger")]
    trigger, market = texts[len(offer) + 1 : len(offer) + 3]
    last, attention, end = texts[-3:]
    assert rejected.startswith("rejected: extra: not executed: kt10000: ")
    assert "[2110]" in rejected
    first = r"part filled: exit \(sell 000660\) (\d+) more, \1 in all, \d+ open at 205,000"
    assert re.match(first, offer[0]), offer
    assert all(" at 205,000 (average 205,000)" in t for t in offer), offer
    assert trigger == "trigger stop fired (000660 197,500)"
    assert market.startswith("exit switched to a market order (acked market")
    assert last.startswith("filled: exit (sell 000660) ") and ", 20 in all at 197,500" in last
    assert attention.startswith("needs attention:\n- extra.place: rejected (kt10000")
    assert end.startswith("notify-check ended, exit 2: jobs ")
    assert "exit 20/20 filled" in end and "1 need(s) attention" in end


def test_issue17_notify_plan_section_chooses_events(tmp_path, receiver):
    url, got = receiver
    _run(tmp_path, notify=f'notify:\n  urls: ["{url}"]\n  events: [trigger, end]\n')
    texts = _messages(got)
    assert [t.split(" ")[0] for t in texts] == ["trigger", "notify-check"]


# The runner's own bound on a rehearsal's lateness: the plan's grace (30 s), at least a
# quarter second of real time.
GRACE = dt.timedelta(seconds=max(30.0, 0.25 * SPEED))


def _lateness_within_grace(tmp: Path, events: list[Event]) -> None:
    """Each request went out within the grace of its moment: a job's planned instant, a
    trigger's firing (the journal's intent records when the request was written)."""
    due = {e.job: dt.datetime.fromisoformat(e.data["at"]) for e in events if e.kind == SCHEDULED}
    due |= {e.job: e.at for e in events if e.kind == TRIGGERED}
    [journal] = sorted((tmp / "state").rglob("*.jsonl"))
    firsts = {
        rec["job"]: dt.datetime.fromisoformat(rec["at"])
        for rec in replay(journal).records
        if rec.get("type") == "intent" and rec.get("req") == 0
    }
    assert set(firsts) <= set(due) and firsts
    for job, at in firsts.items():
        assert at - due[job] <= GRACE, (job, at, due[job])


def _outcome(tmp: Path, result: Any) -> tuple[Any, ...]:
    return (
        result.exit_code,
        result.jobs,
        [(o.order, o.filled, o.ordered, o.state) for o in result.orders],
    )


@pytest.mark.parametrize("dead", ["hanging", "refusing"])
def test_issue17_dead_receiver_delays_no_order(tmp_path, dead, request):
    url = request.getfixturevalue(dead)
    base, base_events = _run(tmp_path / "plain")
    result, events = _run(tmp_path / "told", url, timeout=0.5)
    assert _outcome(tmp_path, result) == _outcome(tmp_path, base)
    _lateness_within_grace(tmp_path / "told", events)
    failures = [e for e in events if e.kind == WARNING and "failed" in e.message]
    assert len(failures) == 1, [e.message for e in failures]
    # As printed (keys and tokens blanked): a webhook's address is no secret.
    shown = redact(failures[0].message)
    assert shown.startswith(f"notifications to {url} failed"), shown

    # Every job went through the same steps as without notifications (fills are left
    # out: how many partial fills a status read sees depends on when it reads).
    def said(evs: list[Event]) -> Counter[tuple[str, str | None]]:
        return Counter((e.kind, e.job) for e in evs if e.kind not in (WARNING, INFO, FILL))

    assert said(events) == said(base_events)


def test_issue17_notify_url_needs_a_scheme(tmp_path):
    plan, _ = _files(tmp_path, 'notify: {urls: ["hooks.example/abc"]}\n')
    with pytest.raises(PlanError) as e:
        load_plan(plan)
    assert "not a notification URL" in str(e.value)


def test_issue17_notify_unknown_service_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a URL apprise knows"):
        _run(tmp_path, "nosuchservice://x/y")


def test_issue17_notify_hides_the_token(tmp_path, refusing):
    token = "123456789:AAF3xYzSecretTokenValue0123456789ab"
    from planrunner.app.notify import Notifier

    said: list[str] = []
    n = Notifier([f"tgram://{token}/987654321"], title="t", warn=said.append, timeout=0.2)
    try:
        assert token not in n.channels[0].name
        shown = redact(f"url tgram://{token}/1")
        assert shown.startswith("url tgram://***") and "Secret" not in shown
    finally:
        assert n.close() == []


class _Held(BaseHTTPRequestHandler):
    """Answers each message, but holds the first until the test lets it go."""

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", 0))
        server = _hook(self)
        server.got.append(json.loads(self.rfile.read(size))["message"])
        if len(server.got) == 1:
            server.arrived.set()
            server.release.wait(30)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_issue17_notify_full_queue_drops_the_oldest_and_says_how_many():
    from planrunner.app.notify import QUEUE_SIZE, Notifier

    server = _Hook(_Held)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    warned: list[str] = []
    n = Notifier(
        [f"json://127.0.0.1:{server.server_port}/hook"], title="t", warn=warned.append, timeout=30
    )
    try:
        n.send("end", "first")
        assert server.arrived.wait(30)  # in flight, held: the queue behind it is empty
        for i in range(QUEUE_SIZE + 50):
            n.send("end", f"m{i}")  # returns at once, whatever the service does
        server.release.set()
        notes = n.close()
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    got = server.got
    assert got[0] == "first"
    assert got[1] == "m50\n(50 earlier message(s) dropped: queue full)"
    assert got[2:] == [f"m{i}" for i in range(51, QUEUE_SIZE + 50)]
    assert notes == [
        f"notifications to json://127.0.0.1:{server.server_port}/hook: 50 dropped (queue full)"
    ]
    assert warned == []


def test_issue17_run_notify_option(tmp_path, receiver, refusing):
    """`run --notify URL` (twice): the working receiver hears the run, the dead one is one
    warning line, and the exit code is the plan's own (2: the rejected buy)."""
    import os
    import subprocess
    import sys

    url, got = receiver
    plan, scenario = _files(tmp_path)
    args = ["run", str(plan), "--scenario", str(scenario), "--speed", str(SPEED)]
    args += ["--state-dir", str(tmp_path / "state"), "--no-report"]
    args += ["--notify", url, "--notify", refusing]
    done = subprocess.run(
        [sys.executable, "-m", "planrunner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if " failed (" in line]
    assert len(failed) == 1 and f"notifications to {refusing} failed" in failed[0], failed
    assert done.stderr == ""
    texts = _messages(got)
    # The rejection is said (its place at 09:01 is answered while the rehearsal's clock
    # runs on, so on a loaded machine the 09:05 trigger may be said first), and the end last.
    assert [t for t in texts if t.startswith("rejected: extra")], texts
    assert texts[-1].startswith("notify-check ended, exit 2")


def test_an_event_in_doubt_is_told_by_its_outcome_not_its_wording(receiver):
    """A request in doubt is an attention message because the event carries the typed
    outcome; a warning that merely reads "in doubt…" (no outcome) is not one."""
    from planrunner.app.notify import Notifier
    from planrunner.engine.outcome import Kind

    url, got = receiver
    at = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    n = Notifier([url], title="t", warn=lambda _: None, timeout=5)
    emit = n.wrap(lambda _e: None)
    emit(Event(kind=WARNING, at=at, message="in doubt (lists differ)", job="j1", order="a"))
    emit(
        Event(
            kind=WARNING,
            at=at,
            message="the broker's lists and our arithmetic differ",
            job="j2",
            order="b",
            outcome=Kind.IN_DOUBT,
        )
    )
    n.close()
    assert _messages(got) == ["needs attention: b: the broker's lists and our arithmetic differ"]
