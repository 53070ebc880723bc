"""Several plans share one live feed (app/several.py): one WebSocket session at the
simulator, every plan's symbols registered on it, every event handed to each plan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planrunner.app.several import Shared
from planrunner.app.targets import Target
from tests.support.feed import Live, Recorder, live_sim

TWO = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
  "000660": {name: SK하이닉스, base: 200000, walk: false}
"""


@pytest.fixture
def together() -> Iterator[tuple[Live, Shared]]:
    """A simulator with its feed, and what several plans of one process share on it."""
    with live_sim(TWO) as live:
        target = Target(mode="dry-run", env="local", client=live.client, clock=live.clock)
        shared = Shared(target)
        try:
            yield live, shared
        finally:
            if shared.feed is not None:
                shared.feed.close()  # the client is live_sim's to close


def test_plans_share_one_socket_and_each_hears_every_event(together) -> None:
    live, shared = together
    first, second = Recorder(), Recorder()
    shared.feed_for(first, ["005930"])
    first.wait(lambda r: (True, "connected") in r.states)
    shared.feed_for(second, ["000660"])  # joins a feed already up: told at once
    assert second.states == [(True, "connected")]
    first.wait(lambda r: live.sim.hub.sessions()[0].wants("0B", "000660"))
    assert len(live.sim.hub.sessions()) == 1  # one connection for both plans
    live.sim.set_price("005930", 70100)
    live.sim.set_price("000660", 200500)
    live.client.place("005930", "buy", 1, 69000, "limit")
    for rec in (first, second):  # each keeps what is its own (engine/pushprices.py)
        rec.wait(lambda r: r.prices("005930") == [70100])
        rec.wait(lambda r: r.prices("000660") == [200500])
        rec.wait(lambda r: "accepted" in r.kinds())


def test_a_plan_joining_after_the_order_events_are_registered_is_told_so(together) -> None:
    """A plan's standing read of open orders (engine/standing.py) counts only from the
    broker's acknowledgement of the `00` registration: a plan that joins the shared feed
    after it is told at once (its events flow from then), and after a drop each plan
    hears it again with the new connection's."""
    live, shared = together
    first, second = Recorder(), Recorder()
    shared.feed_for(first, ["005930"])
    first.wait(lambda r: r.orders_registered == 1)
    shared.feed_for(second, ["000660"])
    assert second.orders_registered == 1
    live.sim.faults.add("ws_drop:api=00")
    live.client.place("005930", "buy", 1, 69000, "limit")
    for rec in (first, second):
        rec.wait(lambda r: r.orders_registered == 2 and r.states[-1][0])
        assert [up for up, _ in rec.states][-2:] == [False, True], rec.states
