"""Build compiled plans by hand and run them on the embedded simulator.

These tests check the runner on its own, apart from the YAML front end: the compiled
plan is the contract between the two.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from planrunner.app.targets import Target, build_sim, warm_up
from planrunner.clock import SEOUL, Clock
from planrunner.engine.events import Emit, Event, RunResult
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal
from planrunner.engine.runner import Runner
from planrunner.kiwoom.client import KiwoomClient
from planrunner.model import (
    Action,
    CompiledPlan,
    Job,
    OrderSpec,
    Place,
    Policy,
    Trigger,
    action_order,
)
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan
from planrunner.sim import Simulator, parse_scenario
from planrunner.sim.behaviour import Behaviour

DAY = dt.date(2026, 11, 26)  # a Thursday, a KRX trading day
OPEN = dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL)


def until(what: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for a condition (real time, generous: the machine may be loaded)."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.002)


def at(minutes: float) -> dt.datetime:
    return OPEN + dt.timedelta(minutes=minutes)


def spec(order_id: str = "entry", **kw: object) -> OrderSpec:
    base: dict[str, object] = dict(id=order_id, symbol="005930", side="buy", qty=10, price=69000)
    base.update(kw)
    return OrderSpec(**base)  # type: ignore[arg-type]


def job(job_id: str, minutes: float, action: Action) -> Job:
    return job_at(job_id, at(minutes), action, f"+{minutes}m")


def job_at(job_id: str, when: dt.datetime, action: Action, text: str = "bench") -> Job:
    """The job `job_id` doing `action` at `when` (`text`: its time as a plan would say it)."""
    return Job(id=job_id, at=when, at_text=text, order=action_order(action), action=action)


def plan(
    orders: list[OrderSpec],
    jobs: list[Job],
    triggers: tuple[Trigger, ...] = (),
    policy: Policy | None = None,
) -> CompiledPlan:
    return compiled("t", OPEN, orders, jobs, triggers, policy)


def compiled(
    name: str,
    start: dt.datetime,
    orders: Iterable[OrderSpec],
    jobs: Iterable[Job] = (),
    triggers: Iterable[Trigger] = (),
    policy: Policy | None = None,
) -> CompiledPlan:
    """A plan `name` of these orders, jobs and triggers on KRX, run from `start` (its day
    is the plan's, in Seoul). Without a `policy`, the default with a generous grace: on a
    loaded machine the first jobs (a fraction of a real second after the start) must not
    be judged late; the lateness tests are far past it."""
    return CompiledPlan(
        name=name,
        file=f"{name}.yaml",
        day=start.astimezone(SEOUL).date(),
        tz=SEOUL,
        exchange="KRX",
        orders={o.id: o for o in orders},
        jobs=tuple(jobs),
        triggers=tuple(triggers),
        policy=policy or Policy(misfire_grace=dt.timedelta(minutes=5)),
        run_start=start,
    )


def compile_text(tmp: Path, text: str) -> CompiledPlan:
    """The plan text, written to `tmp/p.yaml`, compiled for the rehearsal's day."""
    f = tmp / "p.yaml"
    f.write_text(text, encoding="utf-8")
    return compile_plan(load_plan(f), day=DAY, run_start=OPEN)


def entry_plan(
    *steps: tuple[float, Action], place_at: float = 0.1, policy: Policy | None = None
) -> CompiledPlan:
    """The plan most tests need: `entry` (buy 10 005930 at 69,000, resting under the
    market) placed at `place_at` minutes, then `steps[0]`, `steps[1]`... at theirs."""
    entry = spec(price=69000)
    jobs = [job("entry.place", place_at, Place(spec=entry))]
    jobs += [job(f"steps[{i}]", m, action) for i, (m, action) in enumerate(steps)]
    return plan([entry], jobs, policy=policy)


def run_with(
    compiled: CompiledPlan,
    client: KiwoomClient,
    clock: Clock,
    journal: Journal,
    emit: Emit,
    stop: threading.Event | None = None,
    began: dt.datetime | None = None,
) -> RunResult:
    """Run `compiled` to its end through `client` on `clock`, as `planrunner run` wires the
    executor and the runner (without the feed), writing `journal` (opened here)."""
    journal.open()
    try:
        ex = Executor(plan=compiled, client=client, journal=journal, clock=clock, emit=emit)
        return Runner(
            plan=compiled,
            executor=ex,
            journal=journal,
            clock=clock,
            emit=emit,
            stop=stop,
            began=began,
        ).run()
    finally:
        journal.close()


@dataclass
class Rehearsal:
    """One run of a compiled plan on a fresh simulator, keeping everything to inspect."""

    tmp: Path
    scenario: str = "symbols: {'005930': {price: 70000, walk: false}}"
    speed: float = 200.0
    start: dt.datetime = OPEN
    events: list[Event] = field(default_factory=list)
    target: Target | None = None
    behaviour: Behaviour | None = None  # the broker reading the simulator plays

    def __post_init__(self) -> None:
        self.target = build_sim(
            start=self.start,
            speed=self.speed,
            scenario=parse_scenario(self.scenario),
            seed=0,
            prices={},
        )
        if self.behaviour is not None:
            self.sim.set_behaviour(self.behaviour)

    @property
    def sim(self) -> Simulator:  # the simulator, for its request log and book
        assert self.target is not None and self.target.simulator is not None
        return self.target.simulator

    def journal(self) -> Journal:
        return Journal(self.tmp / "journal.jsonl")

    def run(
        self,
        compiled: CompiledPlan,
        stop: threading.Event | None = None,
        began: dt.datetime | None = None,
    ) -> RunResult:
        """Run to the end; `stop` (set by a test driving the market) ends it early;
        `began`: when the runner is taken to have started (default: when it starts)."""
        assert self.target is not None
        warm_up(self.target, compiled.day)
        return run_with(
            compiled, self.target.client, self.target.clock, self.journal(), self.events.append,
            stop=stop, began=began,
        )  # fmt: skip

    def sent(self, *api_ids: str) -> list[dict[str, str]]:
        """Bodies of the order requests the simulator accepted, oldest first."""
        return [e.body for e in self.sim.log_snapshot() if e.api_id in api_ids and e.committed]

    def messages(self, kind: str) -> list[str]:
        return [f"{e.job}: {e.message}" for e in self.events if e.kind == kind]
