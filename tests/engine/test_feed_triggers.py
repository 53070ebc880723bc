"""Triggers on the live feed: each pushed price is evaluated as it arrives, polling takes
over while the socket is down (said once), and a trigger fires once across a drop.
The simulator's WebSocket over 127.0.0.1, a manual clock, waits on events only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planrunner.engine.events import Event
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal
from planrunner.engine.pushprices import PushPrices
from planrunner.engine.triggers import TriggerWatcher
from planrunner.kiwoom.feed import Feed
from planrunner.model import Place, PriceCond, Trigger
from tests.support.feed import Live, Recorder, live_sim
from tests.support.rehearsal import plan, spec

DIP = Trigger(
    id="dip",
    when=PriceCond(symbol="005930", op="below", value=69000),
    action=Place(spec=spec("entry", price=68000, qty=1)),
)


@contextmanager
def watching(live: Live, tmp: Path) -> Iterator[tuple[TriggerWatcher, PushPrices, list[Event]]]:
    compiled = plan([spec("entry", price=68000, qty=1)], [], triggers=(DIP,))
    events: list[Event] = []
    journal = Journal(tmp / "journal.jsonl")
    journal.open()
    stop = threading.Event()
    ex = Executor(
        plan=compiled, client=live.client, journal=journal, clock=live.clock, emit=events.append
    )
    push = PushPrices(
        poll=lambda s: live.client.quote(s).price, emit=events.append, clock=live.clock
    )
    feed = live.client.feed(push.listener(), backoff=(0.05, 0.5), close_timeout=0.2)
    feed.watch_prices(["005930"])
    feed.start()
    watcher = TriggerWatcher(
        plan=compiled,
        executor=ex,
        journal=journal,
        clock=live.clock,
        emit=events.append,
        stop=stop,
        prices=push,
    )
    try:
        assert feed.wait_up(30)
        watcher.start()
        yield watcher, push, events
    finally:
        stop.set()
        watcher.join()
        feed.close()
        journal.close()


def _placed(live: Live) -> int:
    return sum(1 for e in live.sim.log_snapshot() if e.api_id == "kt10000" and e.committed)


def _quotes(live: Live) -> int:
    return sum(1 for e in live.sim.log_snapshot() if e.api_id == "ka10001")


def test_issue14_trigger_fires_on_the_pushed_price_without_polling(tmp_path: Path) -> None:
    with live_sim() as live, watching(live, tmp_path) as (watcher, push, events):
        rec = Recorder()
        rec.wait(lambda r: push.polls >= 1 and live.sim.hub.wants_prices())  # the seed read
        seeded = _quotes(live)
        live.sim.set_price("005930", 69500)
        rec.wait(lambda r: watcher.evaluations >= 1)
        assert _quotes(live) == seeded  # evaluated on the pushed price: no ka10001
        live.sim.set_price("005930", 68900)
        rec.wait(lambda r: _placed(live) == 1 and watcher.finished())
        assert [e.message for e in events if e.kind == "triggered"] == [
            "trigger dip fired (005930 68,900)"
        ]


def test_issue14_trigger_fires_once_across_a_drop(tmp_path: Path) -> None:
    scenario = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
"""
    with live_sim(scenario) as live, watching(live, tmp_path) as (watcher, push, events):
        rec = Recorder()
        rec.wait(lambda r: push.polls >= 1 and live.sim.hub.wants_prices())
        live.sim.faults.add("ws_drop:api=0B")
        live.sim.set_price("005930", 68900)  # the crossing's push drops the socket instead
        # Polled while down, or pushed after the reconnect: either way it fires once.
        rec.wait(lambda r: _placed(live) == 1 and watcher.finished())
        rec.wait(lambda r: push.up)
        live.sim.set_price("005930", 68800)  # still below after the feed is back
        live.sim.set_price("005930", 68700)
        warnings = [e.message for e in events if e.kind == "warning"]
        assert len([w for w in warnings if w.startswith("live feed down")]) == 1, warnings
    assert _placed(live) == 1
    assert [e.job for e in events if e.kind == "triggered"] == ["trigger:dip"]


def test_issue14_back_to_the_pushed_prices_when_the_feed_returns(tmp_path: Path) -> None:
    """A drop is said once, its end once, and then the trigger is decided on pushes again
    (no ka10001 from the push that returns to the crossing that fires)."""
    with live_sim() as live, watching(live, tmp_path) as (watcher, push, events):
        rec = Recorder()
        rec.wait(lambda r: push.polls >= 1 and live.sim.hub.wants_prices())
        live.sim.faults.add("ws_drop:api=0B")
        live.sim.set_price("005930", 69500)  # no crossing: this push drops the socket

        def said(prefix: str) -> list[str]:
            return [e.message for e in events if e.message.startswith(prefix)]

        rec.wait(lambda r: said("live feed back") and live.sim.hub.wants_prices())
        evaluated = watcher.evaluations
        live.sim.set_price("005930", 69400)
        rec.wait(lambda r: watcher.evaluations > evaluated)  # only pushes are evaluated
        quotes = _quotes(live)
        live.sim.set_price("005930", 68900)
        rec.wait(lambda r: _placed(live) == 1 and watcher.finished())
        assert _quotes(live) == quotes
        assert len(said("live feed down")) == 1 and len(said("live feed back")) == 1, [
            e.message for e in events
        ]
    assert [e.job for e in events if e.kind == "triggered"] == ["trigger:dip"]


def test_issue14_feed_that_never_connects_is_said_once_and_prices_are_polled(
    tmp_path: Path,
) -> None:
    """A WebSocket URL nobody listens on: the output says so once, triggers poll."""
    with live_sim() as live:
        events: list[Event] = []
        push = PushPrices(
            poll=lambda s: live.client.quote(s).price, emit=events.append, clock=live.clock
        )
        with socket.socket() as s:  # a port that was free a moment ago: refused
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        feed = Feed(
            f"ws://127.0.0.1:{port}/api/dostk/websocket",
            live.client.tokens,
            push.listener(),
            backoff=(0.01, 0.05),
        )
        with feed:
            feed.start()
            Recorder().wait(lambda r: feed.attempts >= 5)
            assert push.price("005930") == 70000  # polled
        warnings = [e.message for e in events if e.kind == "warning"]
        assert len(warnings) == 1 and warnings[0].startswith("live feed not connected ("), warnings
        assert push.polls == 1


def test_issue14_trigger_fires_across_a_stall_within_a_few_ping_intervals(
    tmp_path: Path,
) -> None:
    """A stalled socket (open, silent: no data, no PING) used to blind the triggers for
    60 s. The feed learns the server's PING interval and takes silence of three of them
    (at least 5 s) for a stall: polling takes over and the trigger fires, once, well
    within Recorder's 30 s bound (which main's 60 s could not meet)."""
    scenario = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
"""
    with (
        live_sim(scenario, ping_interval=0.5) as live,
        watching(live, tmp_path) as (watcher, push, events),
    ):
        rec = Recorder()
        rec.wait(lambda r: push.polls >= 1 and live.sim.hub.wants_prices())
        rec.wait(lambda r: live.session().echoes >= 3)  # two PING gaps seen: learned
        live.sim.faults.add("ws_stall:api=0B")  # for good: that socket says nothing more
        live.sim.set_price("005930", 68900)  # the crossing's push is held by the stall
        rec.wait(lambda r: _placed(live) == 1 and watcher.finished())
        down = [e.message for e in events if e.message.startswith("live feed down")]
        assert len(down) == 1 and "stalled" in down[0], [e.message for e in events]
    assert _placed(live) == 1
    assert [e.job for e in events if e.kind == "triggered"] == ["trigger:dip"]
