"""Two plans place identical orders; neither answer comes back. The first plan's
reconciliation finds one candidate at the broker, stamped after its request and owned
by no journal, and claims it, while the candidate is the second plan's order, whose own
request (an intent in the other journal, its outcome unknown) had not been settled yet.
The second plan then claims the first's order when it shows. Real processes: `planrunner
sim` and one `planrunner run` of both plans, over 127.0.0.1.

A candidate that an identical place in doubt in another journal of the state directory
could also have produced (its intent not after the candidate's stamp) is no proof: the
request stays in doubt, as with two candidates, and the reason names the other plan."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from planrunner.app.cancel_all import CancelAllResult, cancel_all
from planrunner.app.targets import env_label
from planrunner.clock import SEOUL, Clock, RealClock, VirtualClock
from planrunner.engine.events import Event
from planrunner.engine.execute import Executor, InDoubt
from planrunner.engine.journal import Journal, journal_path
from planrunner.engine.reconcile import reconcile
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from planrunner.sim import Simulator, parse_scenario
from tests.reliability.test_issue11_indoubt import (
    KEYS,
    PLAN_YAML,
    STILL,
    short_settle,  # noqa: F401 (autouse: a short settle window)
)
from tests.support.faults import Answering, Died, answer_lost, died, server_executor
from tests.support.loopback import RUNNER, SimProcess, run_cli, runner_env
from tests.support.rehearsal import DAY, OPEN, Rehearsal, entry_plan, until


def _texts(folder: Path) -> list[str]:
    return [p.read_text() for p in folder.glob("*.jsonl")] if folder.exists() else []


_PLAN = """\
version: 1
name: {name}
orders:
  e: {{symbol: "005930", side: buy, qty: 10, price: 60000, at: "{at}"}}
steps:
  - {{at: "{cancel}", cancel: {{order: e}}}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_issue11_an_identical_order_another_plan_has_in_flight_is_not_claimed(tmp_path, processes):
    """`processes`: both plans in one `planrunner run`, or each in its own (another app
    key of the same account: one process per key), rb started once ra's intent is on
    disk, so that ra's request is the first the broker gets."""
    # ra's request reaches the broker 25 s late (after ra gave up at 10 s and read the
    # lists at 13 s); rb's 9 s late, and its answer is lost (drop): unknown too.
    sim = SimProcess(
        "--fault",
        "latency:api=kt10000,ms=25000,count=1",
        "--fault",
        "latency:api=kt10000,ms=9000,count=1,after=1",
        "--fault",
        "drop:api=kt10000,count=1",
    )
    try:
        plans = []
        for name, at, cancel in (("ra", "+1s", "+30s"), ("rb", "+3s", "+32s")):
            p = tmp_path / f"{name}.yaml"
            p.write_text(_PLAN.format(name=name, at=at, cancel=cancel), encoding="utf-8")
            plans.append(str(p))
        state = tmp_path / "s"
        args = ["--dry-run", "--base-url", sim.url, "--state-dir", str(state)]
        if processes == 1:
            run_cli("run", *plans, *args, timeout=240)
        else:
            first = subprocess.Popen(
                [*RUNNER, "run", plans[0], *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=runner_env(),
            )
            try:
                until(lambda: '"intent"' in "".join(_texts(state / "ra")), timeout=120)
                other_key = {"KIWOOM_APPKEY": "loopback-appkey-0002"}
                run_cli("run", plans[1], *args, env=other_key, timeout=240)
                first.wait(timeout=240)
            finally:
                if first.poll() is None:
                    first.kill()
                    first.wait()
        places = sorted(
            (e for e in sim.get("log")["log"] if e["api_id"] == "kt10000"),
            key=lambda e: e["received"],
        )
        owner = {"ra": places[0]["ord_no"], "rb": places[1]["ord_no"]}  # by who sent it
        for name in owner:
            journal = next((state / name).glob("*.jsonl"))
            records = [json.loads(line) for line in journal.read_text().splitlines()]
            acked = [r["ord_no"] for r in records if r["type"] == "ack" and r["kind"] == "place"]
            other, rival = next((n, k) for k, n in owner.items() if k != name)
            assert other not in acked, f"{name} claimed {other}, the other plan's order"
            # in doubt, and the reason it gives names the other plan's request
            why = [r["why"] for r in records if r["type"] == "doubt"]
            assert any(f"plan {rival}'s identical request" in w for w in why), why
    finally:
        sim.close()


# ---- the same rule, in process: each step of the evidence, deterministic ---------------


Changed = Callable[[httpx.Request, httpx.BaseTransport], httpx.Response]


class Plans:
    """Plans a and b of one state directory on one simulator (a rehearsal's, in
    process): each with its own client, journal and executor, as several.py runs them."""

    def __init__(self, r: Rehearsal, state: Path, env: str = "mock") -> None:
        self.r, self.state, self.env = r, state, env
        self.journals: dict[str, Journal] = {}
        self.clients: dict[str, KiwoomClient] = {}

    def open(self, name: str, transport: httpx.BaseTransport | None = None) -> Executor:
        assert self.r.target is not None
        journal = Journal(journal_path(self.state, name, DAY, self.env))
        journal.open()
        client = KiwoomClient(
            env="sim", transport=transport or self.r.sim.transport(), clock=self.clock, **KEYS
        )
        self.journals[name], self.clients[name] = journal, client
        return Executor(
            plan=entry_plan(),
            client=client,
            journal=journal,
            clock=self.clock,
            emit=self.r.events.append,
        )

    def place(self, name: str, change: Changed) -> None:
        """Plan `name` opens and runs its place, hearing `change` for its kt10000: a
        process that dies after its intent (`died`) or one left in doubt (InDoubt)."""
        ex = self.open(name, Answering(self.r.sim.transport(), "kt10000", change))
        expected: type[BaseException] = Died if change is died else InDoubt
        with pytest.raises(expected):
            ex.execute("entry.place", entry_plan().jobs[0].action)

    @property
    def clock(self) -> Clock:
        assert self.r.target is not None
        return self.r.target.clock

    def reconcile(self, name: str) -> list[str]:
        """Plan `name` reads the broker for its requests in doubt: what it says."""
        events: list[Event] = []
        reconcile(
            journal=self.journals[name], client=self.clients[name], clock=self.clock,
            emit=events.append,
        )  # fmt: skip
        return [e.message for e in events]

    def owned(self, name: str) -> list[str]:
        return [link.ord_no for link in self.journals[name].state.lineage.get("entry", [])]

    def close(self) -> None:
        for journal in self.journals.values():
            journal.close()
        for client in self.clients.values():
            client.close()


def test_issue11_a_twin_another_plan_has_in_flight_is_no_proof_until_it_settles(tmp_path):
    """Plan a's place times out (the broker gets it later); while plan b's identical place
    is on its way (its intent journaled, its answer not yet read), b's order is the one
    candidate at the broker: a's reconcile must not claim it, and says b may have placed
    it. Once b's answer names that number, a's reconcile finds nothing of its own (still
    in doubt, not resent); when a's late request reaches the broker, a claims it."""
    r = Rehearsal(tmp_path, scenario=STILL)
    plans = Plans(r, tmp_path / "s")
    late: list[httpx.Request] = []

    def timed_out(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        late.append(request)  # reaches the broker later, long after the client gave up
        raise httpx.ReadTimeout("timed out")

    seen: list[list[str]] = []

    def answered_after_a_looks(
        request: httpx.Request, inner: httpx.BaseTransport
    ) -> httpx.Response:
        reply = inner.handle_request(request)
        reply.read()  # b's order is at the broker; b has not read its answer yet
        seen.append(plans.reconcile("a"))
        return reply

    try:
        a = plans.open("a", Answering(r.sim.transport(), "kt10000", timed_out))
        b = plans.open("b", Answering(r.sim.transport(), "kt10000", answered_after_a_looks))
        with pytest.raises(InDoubt):
            a.execute("entry.place", entry_plan().jobs[0].action)
        b.execute("entry.place", entry_plan().jobs[0].action)
        (b_order,) = plans.owned("b")
        (said,) = seen
        assert plans.owned("a") == [], "a claimed b's order"
        assert any(b_order in m and "plan b's identical request" in m for m in said), said
        # b's answer came: that number is b's; a's own order is not at the broker yet
        said = plans.reconcile("a")
        assert plans.owned("a") == [] and any("not seen at the broker" in m for m in said), said
        (request,) = late
        a_order = json.loads(r.sim.transport().handle_request(request).read())["ord_no"]
        plans.reconcile("a")
        assert plans.owned("a") == [a_order] and plans.owned("b") == [b_order]
        assert len(r.sent("kt10000")) == 2  # nothing sent twice
    finally:
        plans.close()


def test_issue11_a_rival_in_doubt_in_an_older_journal_format_counts_too(tmp_path):
    """b's journal was written by an older planrunner (format 4, no `twins`) and b died
    after its intent; an identical order appears. a's place in doubt does not claim it:
    either could have placed it. b's own reconcile does not claim it either (a's request
    is in doubt too): neither plan takes an order the other may own."""
    r = Rehearsal(tmp_path, scenario=STILL)
    plans = Plans(r, tmp_path / "s")

    try:
        plans.place("b", died)
        plans.journals["b"].close()
        path = plans.journals["b"].path
        records = [json.loads(x) for x in path.read_text().splitlines()]
        for x in records:
            x.pop("twins", None)
            x.pop("twins_read", None)
        start = {"type": "start", "format": 4, "run_start": records[0]["t"], "t": records[0]["t"]}
        path.write_text("".join(json.dumps(x) + "\n" for x in [start, *records]))
        plans.place("a", answer_lost)
        (only,) = r.sim.orders()
        said = plans.reconcile("a")
        assert plans.owned("a") == [], said
        assert any(only in m and "plan b's identical request" in m for m in said), said
        plans.journals["b"] = Journal(path)  # b restarts while a is in doubt
        plans.journals["b"].open()
        said = plans.reconcile("b")
        assert plans.owned("b") == [], said
        assert any(only in m and "plan a's identical request" in m for m in said), said
    finally:
        plans.close()


def test_issue11_a_rival_sent_after_the_candidate_was_stamped_does_not_hold_it(tmp_path):
    """The control: the rule is no blanket doubt. Plan a's order reached the broker (its
    answer lost); seconds later plan b's identical request dies in flight. b's request
    came after a's candidate was stamped, so it cannot have placed it: a claims it, and
    b, restarted, claims nothing (the number is a's now)."""
    r = Rehearsal(tmp_path, scenario=STILL)
    plans = Plans(r, tmp_path / "s")

    try:
        plans.place("a", answer_lost)
        (a_order,) = r.sim.orders()
        later = plans.clock.now() + dt.timedelta(seconds=5)  # past any clock-skew margin
        until(lambda: plans.clock.now() >= later)
        plans.place("b", died)
        said = plans.reconcile("a")
        assert plans.owned("a") == [a_order], said
        said = plans.reconcile("b")
        assert plans.owned("b") == [] and any("not seen" in m for m in said), said
        assert len(r.sent("kt10000")) == 1
    finally:
        plans.close()


class Served:
    """A simulator on 127.0.0.1 keeping its own hours, plans whose runners keep the real
    clock (as under --dry-run --base-url), and their state directory."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp, self.state = tmp, tmp / "state"
        self.sim = Simulator(
            clock=VirtualClock(dt.datetime(2026, 11, 26, 9, 0, 1, tzinfo=SEOUL), 1.0),
            scenario=parse_scenario(STILL),
            env="mock",
        )
        self.server = self.sim.serve()
        self.env = env_label(self.server.url, "mock")
        monkeypatch.setenv("KIWOOM_APPKEY", KEYS["appkey"])
        monkeypatch.setenv("KIWOOM_SECRETKEY", KEYS["secretkey"])

    def place(self, name: str, change: Callable[..., httpx.Response] | None = None) -> None:
        """Plan `name` (PLAN_YAML) places its order; `change`: what its POST meets."""
        path = self.tmp / f"{name}.yaml"
        path.write_text(PLAN_YAML.format(name=name))
        compiled = compile_plan(load_plan(path), day=DAY, run_start=OPEN)
        inner = httpx.HTTPTransport()
        client = KiwoomClient(
            env="mock",
            base_url=self.server.url,
            transport=inner if change is None else Answering(inner, "kt10000", change),
            rate_limits=RateLimits.for_env("sim"),
            clock=RealClock(),
            **KEYS,
        )
        with self.journal(name) as journal, client:
            journal.open()
            ex = server_executor(compiled, client, journal)
            (j,) = compiled.jobs
            with contextlib.suppress(Died, InDoubt):
                ex.execute(j.id, j.action)

    def journal(self, name: str) -> Journal:
        return Journal(journal_path(self.state, name, DAY, self.env))

    def cancel_all(self, name: str) -> CancelAllResult:
        return cancel_all(
            self.tmp / f"{name}.yaml",
            state_dir=self.state,
            live=False,
            base_url=self.server.url,
            day=DAY,
            emit=lambda e: None,
        )

    def cancels(self) -> list[str]:
        return [e.api_id for e in self.sim.log_snapshot() if e.api_id == "kt10003"]


def test_issue11_cancel_all_does_not_cancel_a_twin_another_plan_has_in_doubt(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """The kill switch reconciles with the same rule. Plan a's runner died right after
    its intent; plan b then placed the identical order, its answer lost. `cancel-all a`
    found that one candidate, claimed it and cancelled b's order; now it stays in doubt,
    names plan b, cancels nothing and exits 2."""
    s = Served(tmp_path, monkeypatch)

    try:
        s.place("a", died)
        s.place("b", answer_lost)
        (b_order,) = s.sim.orders()
        done = s.cancel_all("a")
    finally:
        s.server.close()
    assert s.cancels() == []
    assert s.sim.order(b_order).remaining == 10  # plan b's order is still open
    assert done.exit_code == 2
    assert done.outcomes["x"].startswith("in doubt") and "plan b's" in done.outcomes["x"], done


def test_issue11_cancel_all_compares_order_numbers_without_their_padding(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Plan a placed its order (0000001 as the broker writes it); plan b's journal holds
    the same number spelled 00001 (adopted, typed by hand). `cancel-all b` compared the
    raw strings, found the number owned by no other journal and cancelled a's order."""
    s = Served(tmp_path, monkeypatch)
    try:
        s.place("a")
        (a_order,) = s.sim.orders()
        spelled = a_order.lstrip("0").rjust(5, "0")
        assert spelled != a_order
        (tmp_path / "b.yaml").write_text(PLAN_YAML.format(name="b"))
        with s.journal("b") as journal:
            journal.open()
            journal.append({"type": "adopt", "order": "x", "ord_no": spelled}, sync=True)
        done = s.cancel_all("b")
    finally:
        s.server.close()
    assert s.cancels() == []
    assert s.sim.order(a_order).remaining == 10
    assert done.exit_code == 2
    assert done.outcomes["x"].startswith(f"refused: {spelled} is also owned by"), done


def test_issue11_another_rehearsal_in_doubt_is_no_rival(tmp_path):
    """Rehearsals (`run --sim`) each have a simulator of their own: plan b's place in
    doubt in its `.sim` journal could not have placed an order on a's simulator, nor do
    its numbers name a's orders. a's place, whose answer was lost, claims the one order
    at its broker (its own), instead of staying in doubt because of b."""
    r = Rehearsal(tmp_path, scenario=STILL)
    plans = Plans(r, tmp_path / "s", env="sim")

    try:
        plans.place("b", died)
        assert plans.journals["b"].state.in_doubt()
        plans.place("a", answer_lost)
        (only,) = r.sim.orders()
        said = plans.reconcile("a")
        assert plans.owned("a") == [only], said
    finally:
        plans.close()
