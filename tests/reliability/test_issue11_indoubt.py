"""issue 11 items 1, 2 and 10: an order whose outcome is unknown is never sent twice, and
reconciliation claims only an order it can prove is ours.

The runner talks to the real simulator: over 127.0.0.1 where a client timeout must
happen (item 1), in process otherwise. Misbehaving brokers are the simulator behind a
small transport that changes what it answers, never a fake of planrunner's own code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import httpx
import pytest

from planrunner.app.cancel_all import CancelAllResult, cancel_all
from planrunner.app.targets import env_label
from planrunner.clock import SEOUL, RealClock, VirtualClock
from planrunner.engine import reconcile as reconcile_module
from planrunner.engine.events import Event, RunResult
from planrunner.engine.journal import Journal, journal_path, replay
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.model import Cancel, CompiledPlan, Modify
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from planrunner.sim import Simulator, parse_scenario
from tests.support.faults import Answering, server_executor
from tests.support.rehearsal import DAY, OPEN, Rehearsal, entry_plan, run_with


class Keys(TypedDict):
    """KiwoomClient's key arguments, typed so `**KEYS` type-checks."""

    appkey: str
    secretkey: str


KEYS: Keys = {"appkey": "test-appkey-0001", "secretkey": "test-secret-0001"}
STILL = "symbols: {'005930': {price: 70000, walk: false}}"


@pytest.fixture(autouse=True)
def short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator answers in milliseconds: a short settle window keeps the tests fast.
    monkeypatch.setattr(reconcile_module, "SETTLE_SECONDS", 0.15)
    # and after a crash, requests in flight reach it as fast (not the client's 13 s)
    monkeypatch.setattr(reconcile_module, "IN_FLIGHT_SECONDS", 0.15, raising=False)


def committed(sim: Simulator, api_id: str) -> list[dict[str, str]]:
    return [e.body for e in sim.log_snapshot() if e.api_id == api_id and e.committed]


def run(compiled: CompiledPlan, client: KiwoomClient, clock: VirtualClock, tmp: Path) -> RunResult:
    events: list[Event] = []
    return run_with(compiled, client, clock, Journal(tmp / "journal.jsonl"), events.append)


def with_transport(r: Rehearsal, transport: httpx.BaseTransport) -> KiwoomClient:
    assert r.target is not None
    client = KiwoomClient(env="sim", transport=transport, clock=r.target.clock, **KEYS)
    r.target.client = client
    return client


# ---- item 1 ---------------------------------------------------------------------------


@pytest.fixture
def loopback() -> Iterator[tuple[Simulator, VirtualClock, str]]:
    clock = VirtualClock(OPEN, 20.0)  # 20 virtual seconds per real second
    sim = Simulator(clock=clock, scenario=parse_scenario(STILL), env="mock")
    server = sim.serve()
    try:
        yield sim, clock, server.url
    finally:
        server.close()


def test_issue11_item1_slow_place_is_adopted_when_it_appears_never_resent(loopback, tmp_path):
    """kt10000 answers 1.2 s late, past the client's 0.5 s timeout and the settle window:
    the place is not found at first, stays in doubt, and the modify's read (a minute
    later) finds it. Whichever read finds it first, the assertions hold: nothing depends
    on timing."""
    sim, clock, url = loopback
    client = KiwoomClient(
        env="mock",
        base_url=url,
        timeout=0.5,  # the client gives up long before the broker answers
        rate_limits=RateLimits.for_env("sim"),
        clock=clock,
        **KEYS,
    )
    client.token()
    clock.restart()  # 09:00:00 now
    # An identical order someone placed by hand, resting at the broker before the plan's.
    with KiwoomClient(env="mock", base_url=url, rate_limits=RateLimits.for_env("sim"), **KEYS) as c:
        hand = c.place("005930", "buy", 10, 69000, "limit").ord_no
    sim.faults.add("latency:api=kt10000,ms=1200,count=1")
    # 30 s after the hand-placed order (placed within ~1 s real = 20 s virtual of
    # the restart even under load): well past the clock-skew margin that makes an
    # identical order placed just before the request ambiguous.
    compiled = entry_plan((90 / 60, Modify(order="entry", price=69100)), place_at=30 / 60)
    with client:
        result = run(compiled, client, clock, tmp_path)
    places = committed(sim, "kt10000")
    assert len(places) == 2, places  # the hand-placed one and the plan's: nothing sent twice
    ours = next(no for no, o in sim.orders().items() if no != hand and o.kind != "modify")
    (modify,) = committed(sim, "kt10002")
    assert modify["orig_ord_no"] == ours  # the plan acted on its own order, not the hand's
    assert sim.order(hand).remaining == 10 and sim.order(hand).price == 69000
    assert result.exit_code == 0, result.attention
    (entry,) = result.orders
    assert entry.lineage[0] == ours
    rep = replay(tmp_path / "journal.jsonl")
    assert rep.in_doubt() == [] and rep.jobs["entry.place"].state == "done"


def test_issue11_item1_place_never_found_stays_in_doubt_and_is_reported(tmp_path):
    """The place's answer is lost (HTTP 500, the broker did not execute it): not finding it
    is no proof, so it is not resent; the summary says so and the run exits 2."""
    r = Rehearsal(tmp_path, scenario=STILL)
    r.sim.faults.add("5xx:api=kt10000,count=1")
    compiled = entry_plan((2, Cancel(order="entry")), place_at=1)
    result = r.run(compiled)
    assert [e.api_id for e in r.sim.log_snapshot() if e.api_id == "kt10000"] == ["kt10000"]
    assert r.sent("kt10000", "kt10003") == []  # never resent, nothing cancelled
    assert result.exit_code == 2
    (entry,) = result.orders
    assert entry.state.startswith("in doubt"), entry.state
    assert any("entry.place" in a for a in result.attention), result.attention
    assert any("steps[0]" in a and "in doubt" in a for a in result.attention), result.attention


# ---- item 2 ---------------------------------------------------------------------------


def test_issue11_item2_identical_hand_placed_order_is_not_claimed(tmp_path):
    """The plan's place is in doubt while an identical order placed by hand before it rests
    at the broker: it is not the plan's, so the plan's cancel must not touch it."""
    r = Rehearsal(tmp_path, scenario=STILL)
    assert r.target is not None
    hand = r.target.client.place("005930", "buy", 10, 69000, "limit").ord_no
    r.sim.faults.add("5xx:api=kt10000,count=1")
    # Minutes after the hand-placed order on the virtual clock (which a rehearsal
    # restarts at 09:00 after the hand-placed order went in).
    compiled = entry_plan((6, Cancel(order="entry")), place_at=5)
    result = r.run(compiled)
    assert r.sent("kt10003") == []
    assert r.sim.order(hand).remaining == 10  # the hand-placed order is untouched
    assert result.exit_code == 2
    assert not any(hand in x for o in result.orders for x in o.lineage)


def test_issue11_item2_two_candidates_stay_in_doubt(tmp_path):
    """The place executes, its answer is lost, and an identical order lands in the same
    second from elsewhere: either could be the plan's, so neither is claimed."""
    r = Rehearsal(tmp_path, scenario=STILL)
    assert r.target is not None
    other = r.target.client

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        inner.handle_request(request).read()  # the broker executes it
        other.place("005930", "buy", 10, 69000, "limit")  # someone else's, same fields
        return httpx.Response(500, text="Internal Server Error")

    with_transport(r, Answering(r.sim.transport(), "kt10000", lost))
    compiled = entry_plan((2, Cancel(order="entry")), place_at=1)
    result = r.run(compiled)
    assert len(r.sent("kt10000")) == 2 and r.sent("kt10003") == []
    assert all(o.remaining == 10 for o in r.sim.orders().values())
    assert result.exit_code == 2
    assert any("could be it" in m for m in r.messages("warning")), r.messages("warning")


PLAN_YAML = """\
version: 1
name: {name}
description: One resting bid.
orders:
  x: {{symbol: "005930", side: buy, qty: 10, price: 69000, at: "09:00:01"}}
"""


def test_issue11_item2_cancel_all_acts_only_on_its_own_journals_numbers(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Two plans' journals in one state directory. Plan b's runner died between its
    intent and its POST; plan a then placed an identical order. `cancel-all b` must not
    claim a's order (a's journal owns its number) nor cancel it. The runners keep the real
    clock, as under --dry-run; the simulator keeps its own hours."""
    sim_clock = VirtualClock(dt.datetime(2026, 11, 26, 9, 0, 1, tzinfo=SEOUL), 1.0)
    clock = RealClock()
    sim = Simulator(clock=sim_clock, scenario=parse_scenario(STILL), env="mock")
    server = sim.serve()
    state = tmp_path / "state"
    env = env_label(server.url, "mock")
    monkeypatch.setenv("KIWOOM_APPKEY", KEYS["appkey"])
    monkeypatch.setenv("KIWOOM_SECRETKEY", KEYS["secretkey"])

    class Died(BaseException):
        """The runner's process ending before its POST left (as SIGKILL would)."""

    def die(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        raise Died

    seen: list[Event] = []

    def place(name: str, transport: httpx.BaseTransport | None) -> None:
        path = tmp_path / f"{name}.yaml"
        path.write_text(PLAN_YAML.format(name=name))
        compiled = compile_plan(load_plan(path), day=DAY, run_start=OPEN)
        client = KiwoomClient(
            env="mock",
            base_url=server.url,
            transport=transport,
            rate_limits=RateLimits.for_env("sim"),
            clock=clock,
            **KEYS,
        )
        journal = Journal(journal_path(state, name, DAY, env))
        journal.open()
        try:
            ex = server_executor(compiled, client, journal, clock, seen.append)
            (j,) = compiled.jobs
            with contextlib.suppress(Died):
                ex.execute(j.id, j.action)
        finally:
            journal.close()
            client.close()

    try:
        inner = httpx.HTTPTransport()
        place("b", Answering(inner, "kt10000", die))
        place("a", None)
        (a_order,) = sim.orders()
        events: list[Event] = []

        def kill_switch() -> CancelAllResult:
            return cancel_all(
                tmp_path / "b.yaml",
                state_dir=state,
                live=False,
                base_url=server.url,
                day=DAY,
                emit=events.append,
            )

        done = kill_switch()
        assert committed(sim, "kt10003") == []
        assert sim.order(a_order).remaining == 10  # plan a's order is still open
        # b's place is not at the broker: no proof its request never left (it is not
        # claimed, not resent); the kill switch reports it in doubt
        assert done.outcomes["x"].startswith("in doubt") and done.exit_code == 2
        lines = journal_path(state, "b", DAY, env).read_text().splitlines()
        assert not [x for x in lines if '"reconciled"' in x]

        # Plan b now adopts a's number too (`adopt:` on it): both journals own it, and
        # the kill switch of one plan must not cancel what the other placed.
        with Journal(journal_path(state, "b", DAY, env)) as journal:
            journal.open()
            journal.append({"type": "adopt", "order": "x", "ord_no": a_order}, sync=True)
        again = kill_switch()
    finally:
        server.close()
    assert committed(sim, "kt10003") == []
    assert sim.order(a_order).remaining == 10
    assert again.exit_code == 2
    # refused either way: b's own place is still in doubt, and a's number is a's
    assert again.outcomes["x"].startswith(("in doubt", f"refused: {a_order} is also owned by"))


# ---- item 10 --------------------------------------------------------------------------


def test_issue11_item10_unrecognised_error_answer_is_reconciled_not_read_as_not_placed(
    tmp_path,
):
    """The broker executes the place but answers HTTP 200 `return_code: 1` with no
    `[code:...]`: the order is open, so the summary must show it, not "not placed"."""
    r = Rehearsal(tmp_path, scenario=STILL)

    def odd(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        inner.handle_request(request).read()
        return httpx.Response(200, json={"return_code": 1, "return_msg": "처리 결과 확인 불가"})

    with_transport(r, Answering(r.sim.transport(), "kt10000", odd))
    compiled = entry_plan(place_at=1)
    result = r.run(compiled)
    assert len(r.sent("kt10000")) == 1
    (placed,) = r.sim.orders()
    (entry,) = result.orders
    assert entry.state == "open" and entry.lineage == (placed,)
    assert result.exit_code == 0, result.attention


# ---- item 1 after a crash, and unknown modify/cancel ----------------------------------


def crashed_journal(tmp: Path, clock: VirtualClock) -> dict[str, str]:
    """The journal a run leaves when it is killed after the place's intent was written
    and fsynced: the intent (no identical order at the broker before it: `twins`
    empty), and no outcome. Returns the intent's body."""
    body = {"dmst_stex_tp": "KRX", "stk_cd": "005930", "ord_qty": "10", "ord_uv": "69000"}
    body |= {"trde_tp": "0", "cond_uv": ""}
    with Journal(tmp / "journal.jsonl") as journal:
        journal.open()
        journal.append(
            {"type": "intent", "job": "entry.place", "req": 0, "order": "entry",
             "kind": "place", "api_id": "kt10000", "body": body,
             "at": clock.now().isoformat(timespec="milliseconds"), "twins": [], "qty": 10},
            sync=True,
        )  # fmt: skip
    return body


def test_issue11_item1_after_a_crash_mid_send_the_window_counts_from_the_timeout(
    loopback, tmp_path, monkeypatch
):
    """Killed while the place's POST was on its way: the restart must wait as long as the
    client could have waited for the answer (its 4 s timeout) before trusting the lists.
    Counted from the intent, it read them while the broker still worked on the request,
    found nothing, and sent the place again: two orders."""
    monkeypatch.setattr(reconcile_module, "IN_FLIGHT_SECONDS", None, raising=False)
    sim, clock, url = loopback
    limits = RateLimits.for_env("sim")
    client = KiwoomClient(
        env="mock", base_url=url, timeout=3.5, connect_timeout=0.5, rate_limits=limits,
        clock=clock, **KEYS,
    )  # fmt: skip
    client.token()
    clock.restart()
    sim.faults.add("latency:api=kt10000,ms=500,count=1")
    body = crashed_journal(tmp_path, clock)

    def in_flight() -> None:  # the killed process's request, still travelling
        with KiwoomClient(env="mock", base_url=url, rate_limits=limits, **KEYS) as c:
            c.place(body["stk_cd"], "buy", 10, 69000, "limit")

    sender = threading.Thread(target=in_flight)
    sender.start()
    compiled = entry_plan(place_at=0)
    try:
        with client:
            result = run(compiled, client, clock, tmp_path)
    finally:
        sender.join(30)
    assert len(committed(sim, "kt10000")) == 1  # adopted, never sent again
    assert result.exit_code == 0, result.attention
    rep = replay(tmp_path / "journal.jsonl")
    assert rep.in_doubt() == [] and rep.jobs["entry.place"].state == "done"


def test_issue11_item1_a_place_not_found_after_a_crash_stays_in_doubt_not_resent(
    loopback, tmp_path
):
    """Killed between the place's intent and its POST: nothing at the broker. That is no
    proof the request never left (it may still be on its way), so it is not resent: the
    run reports it in doubt and exits 2."""
    sim, clock, url = loopback
    client = KiwoomClient(
        env="mock", base_url=url, rate_limits=RateLimits.for_env("sim"), clock=clock, **KEYS
    )
    client.token()
    clock.restart()
    crashed_journal(tmp_path, clock)
    compiled = entry_plan(place_at=0)
    with client:
        result = run(compiled, client, clock, tmp_path)
    assert committed(sim, "kt10000") == []  # never (re)sent
    assert result.exit_code == 2
    assert any("entry.place" in a for a in result.attention), result.attention
    assert replay(tmp_path / "journal.jsonl").in_doubt() != []


def test_issue11_item1_an_unknown_partial_cancel_not_found_is_not_sent_again(tmp_path):
    """`cancel: {qty: 4}` gets no answer (the client times out) and the broker executes it
    only later, after the lists were read: they still show the 10 open. Resending it
    cancelled 4 more once the late request executed (6 then 2 left); now it stays in
    doubt, reported (exit 2), and the order ends with 6."""
    r = Rehearsal(tmp_path, scenario=STILL)
    held: list[httpx.Request] = []  # the first cancel, until the broker acts on it

    def execute_late() -> None:
        if held:
            r.sim.transport().handle_request(held.pop()).read()

    def late(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        if not r.sent("kt10003") and not held:  # the first cancel: no answer comes
            held.append(request)
            raise httpx.ReadTimeout("timed out", request=request)
        execute_late()  # a resend: the late request executes first
        return inner.handle_request(request)

    with_transport(r, Answering(r.sim.transport(), "kt10003", late))
    compiled = entry_plan((2, Cancel(order="entry", qty=4)), place_at=1)
    result = r.run(compiled)
    execute_late()  # after the run, if nothing was resent
    assert [c["cncl_qty"] for c in r.sent("kt10003")] == ["4"]  # once
    (ours,) = [o for o in r.sim.orders().values() if o.kind != "cancel"]
    assert ours.remaining == 6
    assert result.exit_code == 2
    assert any("steps[0]" in a for a in result.attention), result.attention
