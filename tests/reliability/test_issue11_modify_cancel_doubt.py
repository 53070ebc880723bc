"""issue 11: a modify or cancel whose answer was lost is adopted when the broker shows it
later in the run, so the plan goes on with the right number; one the broker does not
show, or shows twice, stays in doubt and is reported, never resent.

The runner talks to the real simulator over 127.0.0.1 (where the client must time out
before the broker acts) or in process, under each broker-behaviour switch where the
listing matters. Misbehaving answers come from a small transport in front of the
simulator, never from a fake of planrunner's own code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planrunner.clock import VirtualClock
from planrunner.engine.events import RunResult
from planrunner.engine.journal import Journal, replay
from planrunner.kiwoom import wire
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.model import Cancel, CompiledPlan, Market, Modify, WireRequest
from planrunner.sim import Simulator, parse_scenario
from planrunner.sim.behaviour import Behaviour
from tests.reliability.test_issue11_indoubt import (
    KEYS,
    STILL,
    committed,
    run,
    short_settle,  # noqa: F401 (autouse: a short settle window)
    with_transport,
)
from tests.support.faults import Answering
from tests.support.rehearsal import OPEN, Rehearsal, entry_plan

SWITCHES = [Behaviour(), *Behaviour.each_unusual()]


def _name(b: Behaviour) -> str:
    return ",".join(f"{k}={v}" for k, v in b.changed().items()) or "default"


@pytest.fixture(params=SWITCHES, ids=_name)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, VirtualClock, str]]:
    clock = VirtualClock(OPEN, 20.0)  # 20 virtual seconds per real second
    sim = Simulator(
        clock=clock, scenario=parse_scenario(STILL), env="mock", behaviour=request.param
    )
    server = sim.serve()
    try:
        yield sim, clock, server.url
    finally:
        server.close()


def slow_run(served: tuple[Simulator, VirtualClock, str], compiled: CompiledPlan, tmp: Path):
    """Run `compiled` with a client that gives up after 0.5 s (real time)."""
    _sim, clock, url = served
    client = KiwoomClient(
        env="mock",
        base_url=url,
        timeout=0.5,
        rate_limits=RateLimits.for_env("sim"),
        clock=clock,
        **KEYS,
    )
    client.token()
    clock.restart()  # 09:00:00 now
    with client:
        return run(compiled, client, clock, tmp)


def ours(sim: Simulator) -> list[str]:
    """The numbers still holding something open, oldest first."""
    return sorted(no for no, o in sim.orders().items() if o.remaining)


def modify_then_cancel(place: float, modify: float, cancel: float) -> CompiledPlan:
    """`entry` placed, moved to 69,100 (`steps[0]`), then cancelled (`steps[1]`), at these
    minutes."""
    moved = (modify, Modify(order="entry", price=69100))
    return entry_plan(moved, (cancel, Cancel(order="entry")), place_at=place)


def killed_after_intent(r: Rehearsal, tmp: Path, kind: str, **intent: Any) -> WireRequest:
    """What a run killed right after `steps[0]`'s intent leaves: `entry` (10 at 69,000)
    placed at the broker and journaled done, then the intent of a `modify` to `price` or a
    `cancel` of `asked` (0: all) of it, with `intent`'s fields (a cancel's also names its
    target). Its request is returned, for the test to send as the killed process did."""
    assert r.target is not None
    client, clock = r.target.client, r.target.clock
    placed = client.place("005930", "buy", 10, 69000, "limit").ord_no
    if kind == "modify":
        request = wire.modify_request(
            orig_ord_no=placed, symbol="005930", price=int(intent["price"]), exchange="KRX"
        )
    else:
        request = wire.cancel_request(
            orig_ord_no=placed, symbol="005930", qty=int(intent["asked"]), exchange="KRX"
        )
        intent["target"] = placed
    now = clock.now().isoformat(timespec="milliseconds")
    base = {"job": "entry.place", "req": 0, "order": "entry", "kind": "place"}
    with Journal(tmp / "journal.jsonl") as journal:
        journal.open()
        journal.append({"type": "ack", **base, "ord_no": placed, "qty": 10}, sync=True)
        journal.append({"type": "done", "job": "entry.place"}, sync=True)
        journal.append(
            {"type": "intent", "job": "steps[0]", "order": "entry", "kind": kind,
             "api_id": request.api_id, "body": request.body, "at": now, **intent},
            sync=True,
        )  # fmt: skip
    return request


def settled(result: RunResult, tmp: Path, *jobs: str) -> None:
    assert result.exit_code == 0, result.attention
    rep = replay(tmp / "journal.jsonl")
    assert rep.in_doubt() == []
    for j in jobs:
        assert rep.jobs[j].state == "done", (j, rep.jobs[j])


def test_issue11_slow_modify_is_adopted_later_and_the_plan_goes_on(served, tmp_path):
    """kt10002 is handled 1.2 s after it arrives, past the client's 0.5 s timeout and the
    settle window: the first read does not find the new number. The cancel a few
    seconds later must find it, adopt it and cancel it (on main it was skipped as
    blocked, the order left open at the new price, exit 2)."""
    sim = served[0]
    sim.faults.add("latency:api=kt10002,ms=1200,count=1")
    compiled = modify_then_cancel(0.5, 1, 3)
    result = slow_run(served, compiled, tmp_path)
    assert len(committed(sim, "kt10002")) == 1  # never resent
    (cancel,) = committed(sim, "kt10003")
    new = next(no for no, o in sim.orders().items() if o.kind == "modify")
    assert int(cancel["orig_ord_no"]) == int(new)  # the plan acted on the modify's number
    assert ours(sim) == []  # nothing left open
    settled(result, tmp_path, "steps[0]", "steps[1]")
    (entry,) = result.orders
    assert entry.state == "cancelled" and len(entry.lineage) >= 2, entry


def test_issue11_slow_partial_cancel_is_adopted_later_and_the_plan_goes_on(served, tmp_path):
    """`cancel: {qty: 4}` answers past the timeout; the modify a few seconds later must
    see it took effect (by quantity, or by its own number when the broker moves the rest
    there) and move the 6 left, not stay blocked."""
    sim = served[0]
    sim.faults.add("latency:api=kt10003,ms=1200,count=1")
    compiled = entry_plan(
        (1, Cancel(order="entry", qty=4)),
        (3, Modify(order="entry", price=69100)),
        place_at=0.5,
    )
    result = slow_run(served, compiled, tmp_path)
    (cancel,) = committed(sim, "kt10003")
    assert cancel["cncl_qty"] == "4"
    assert len(committed(sim, "kt10002")) == 1
    (left,) = ours(sim)
    assert sim.order(left).remaining == 6 and sim.order(left).price == 69100
    settled(result, tmp_path, "steps[0]", "steps[1]")


def test_issue11_dropped_modify_found_at_once_goes_on(tmp_path):
    """The broker executes the modify and drops the connection: the read right after
    finds the new number, the step is done and the cancel acts on it."""
    r = Rehearsal(tmp_path, scenario=STILL)
    r.sim.faults.add("drop:api=kt10002,count=1")
    compiled = modify_then_cancel(1, 2, 3)
    result = r.run(compiled)
    assert len(r.sent("kt10002")) == 1 and len(r.sent("kt10003")) == 1
    assert ours(r.sim) == []
    settled(result, tmp_path, "steps[0]", "steps[1]")


def test_issue11_modify_not_executed_stays_in_doubt_never_resent(tmp_path):
    """HTTP 500 before the broker acted: the original is still open and unchanged. Not
    finding a new number is no proof, so the modify is not resent; the cancel after it
    waits (blocked), both are reported and the run exits 2."""
    r = Rehearsal(tmp_path, scenario=STILL)
    r.sim.faults.add("5xx:api=kt10002,count=1")
    compiled = modify_then_cancel(1, 2, 3)
    result = r.run(compiled)
    assert r.sent("kt10002") == [] and r.sent("kt10003") == []
    assert [e.api_id for e in r.sim.log_snapshot() if e.api_id == "kt10002"] == ["kt10002"]
    assert result.exit_code == 2
    assert any("steps[0]" in a for a in result.attention), result.attention
    assert any("steps[1]" in a for a in result.attention), result.attention


@pytest.mark.parametrize("behaviour", SWITCHES, ids=_name)
def test_issue11_two_candidate_modify_results_stay_in_doubt(tmp_path, behaviour):
    """The plan's modify executes (answer lost) while an identical modify of part of the
    order comes from elsewhere at the same price: either new number could be the plan's,
    so neither is adopted; the cancel after it is not sent; reported, exit 2."""
    r = Rehearsal(tmp_path, scenario=STILL)
    r.sim.set_behaviour(behaviour)
    assert r.target is not None
    other = r.target.client

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        target = json.loads(request.read().decode())["orig_ord_no"]
        # someone else moves 4 of it to 69,100 first, then the plan's modify moves the rest
        other.modify(target, "005930", 69100, qty=4)
        inner.handle_request(request).read()
        return httpx.Response(500, text="Internal Server Error")

    with_transport(r, Answering(r.sim.transport(), "kt10002", lost))
    compiled = modify_then_cancel(1, 2, 3)
    result = r.run(compiled)
    assert r.sent("kt10003") == []  # nothing cancelled: which number is ours is unknown
    assert len(r.sent("kt10002")) == 2
    assert result.exit_code == 2
    assert any("could be it" in m for m in r.messages("warning")), r.messages("warning")


@pytest.mark.parametrize("behaviour", SWITCHES, ids=_name)
def test_issue11_hand_modified_identical_order_is_not_claimed(tmp_path, behaviour):
    """An identical order placed by hand is modified by hand to the plan's new price
    while the plan's modify gets no answer and never executes: the hand's new number
    does not descend from the plan's, so it is not adopted (nor cancelled)."""
    r = Rehearsal(tmp_path, scenario=STILL)
    r.sim.set_behaviour(behaviour)
    assert r.target is not None
    other = r.target.client
    hand = other.place("005930", "buy", 10, 69000, "limit").ord_no

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        other.modify(hand, "005930", 69100)  # the hand's, now; the plan's never executes
        return httpx.Response(500, text="Internal Server Error")

    with_transport(r, Answering(r.sim.transport(), "kt10002", lost))
    compiled = modify_then_cancel(5, 6, 7)
    result = r.run(compiled)
    assert r.sent("kt10003") == []
    moved = [o for o in r.sim.orders().values() if o.kind == "modify"]
    assert [o.remaining for o in moved] == [10]  # the hand's modify, untouched
    assert result.exit_code == 2
    (entry,) = result.orders
    numbers = {int(x.split()[0]) for x in entry.lineage if x.split()[0].isdigit()}
    assert int(moved[0].ord_no) not in numbers


def test_issue11_restart_adopts_a_modify_left_unknown_by_the_run_before(tmp_path):
    """The modify gets no answer (the client times out) and the run is stopped right
    after; the broker executes it later. The next run finds its new number: the step is
    done (on main it stayed `unknown`, exit 2) and the cancel acts on the new number."""
    r = Rehearsal(tmp_path, scenario=STILL)
    held: list[httpx.Request] = []
    stop = threading.Event()

    def late(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        held.append(request)
        stop.set()  # Ctrl-C while the modify is on its way
        raise httpx.ReadTimeout("timed out", request=request)

    with_transport(r, Answering(r.sim.transport(), "kt10002", late))
    compiled = modify_then_cancel(1, 2, 30)
    first = r.run(compiled, stop=stop)
    assert first.exit_code != 0 and r.sent("kt10002") == [] and r.sent("kt10003") == []
    r.sim.transport().handle_request(held.pop()).read()  # the broker acts on it now
    result = r.run(compiled)
    assert len(r.sent("kt10002")) == 1  # never resent
    (cancel,) = r.sent("kt10003")
    new = next(no for no, o in r.sim.orders().items() if o.kind == "modify")
    assert cancel["orig_ord_no"] == new
    assert ours(r.sim) == []
    settled(result, tmp_path, "steps[0]", "steps[1]")


def test_issue11_restart_adopts_a_modify_sent_just_before_a_crash(tmp_path):
    """Killed after the modify's intent, its request already on its way: the restart
    finds its new number, the step is done without a resend and the cancel follows."""
    r = Rehearsal(tmp_path, scenario=STILL)
    request = killed_after_intent(r, tmp_path, "modify", req=1, price=69100, remaining=10)
    assert r.target is not None
    r.target.client.send(request)  # the killed process's request, which the broker executed
    compiled = modify_then_cancel(1, 30, 31)
    result = r.run(compiled)
    assert len(r.sent("kt10002")) == 1
    (cancel,) = r.sent("kt10003")
    assert cancel["orig_ord_no"] == next(
        no for no, o in r.sim.orders().items() if o.kind == "modify"
    )
    assert ours(r.sim) == []
    settled(result, tmp_path, "steps[0]", "steps[1]")


@pytest.mark.parametrize("served", [Behaviour()], ids=["default"], indirect=True)
def test_issue11_market_whose_cancel_is_found_late_sends_no_market_order(served, tmp_path):
    """`market`'s cancel answers past the timeout and is found only when the next step
    looks again: the cancel took effect, but the market order it owed is not sent late
    (nobody asked for it at that time); the step ends failed, reported, exit 2, and the
    order is no longer blocked."""
    sim = served[0]
    # 4 s: far past the client's 0.5 s and the settle window even on a loaded machine (found
    # at once, the market order would rightly go out)
    sim.faults.add("latency:api=kt10003,ms=4000,count=1")
    compiled = entry_plan(
        (1, Market(order="entry")),
        (5, Cancel(order="entry")),
        place_at=0.5,
    )
    result = slow_run(served, compiled, tmp_path)
    assert len(committed(sim, "kt10003")) == 1
    assert [b["trde_tp"] for b in committed(sim, "kt10000")] == ["0"]  # no market order
    assert ours(sim) == []
    assert result.exit_code == 2
    assert any("steps[0]" in a and "not sent" in a for a in result.attention), result.attention
    assert not any("steps[1]" in a for a in result.attention), result.attention


def test_issue11_restart_resumes_a_market_whose_cancel_shows_only_when_it_fires(tmp_path):
    """Killed after the `market` step's cancel intent, its request still travelling: the
    restart's first read does not see it, so the step waits in doubt; when its time comes
    the read shows the cancel took effect, and the step resumes with its market order,
    sent once (on main the step was skipped as blocked, the position cancelled, unbought)."""
    r = Rehearsal(tmp_path, scenario=STILL)
    request = killed_after_intent(
        r, tmp_path, "cancel", req=0, partial=False, asked=0, remaining=10, target_filled=0
    )
    assert r.target is not None
    client = r.target.client
    travelling = threading.Timer(1.5, lambda: client.send(request))  # the killed one's
    travelling.start()
    compiled = entry_plan(
        (40, Market(order="entry")),  # 12 s of real time after 09:00
        place_at=1,
    )
    try:
        result = r.run(compiled)
    finally:
        travelling.join(30)
    assert len(r.sent("kt10003")) == 1
    markets = [b for b in r.sent("kt10000") if b["trde_tp"] == "3"]
    assert [b["ord_qty"] for b in markets] == ["10"], [
        f"{e.kind} {e.job} {e.message}" for e in r.events
    ]
    settled(result, tmp_path, "steps[0]")
