"""The live feed's client against the simulator's WebSocket over 127.0.0.1: LOGIN, REG,
PING, reconnect + re-register, token renewal on 8005, every 00 kind, every WebSocket
fault. Every wait is a bounded wait on an event (tests/support/feed.py), never on time."""

from __future__ import annotations

import contextlib
import logging

import pytest

from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.feed import PriceTick, ws_url_for
from planrunner.sim.behaviour import Behaviour
from tests.support.feed import WAIT, Live, Recorder, feed_up, live_sim
from tests.support.readings import readings, scenario_text

PARTIAL = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


def _push_until_seen(live: Live, rec: Recorder) -> None:
    """Move the price until a push arrives: with a short idle timeout a loaded machine may
    reconnect once more on its own, and a push sent to a socket being replaced is lost
    (Kiwoom does not replay either)."""
    for price in range(70200, 71000, 100):
        live.sim.set_price("005930", price)

        def pushed(r: Recorder, p: int = price) -> bool:
            return p in r.prices()

        with contextlib.suppress(AssertionError):
            rec.wait(pushed, timeout=3)
            return
    raise AssertionError(f"no price pushed after the reconnect: {rec.states}")


def test_issue14_ws_url_follows_the_base_url() -> None:
    assert ws_url_for("https://api.kiwoom.com") == "wss://api.kiwoom.com:10000/api/dostk/websocket"
    assert (
        ws_url_for("https://mockapi.kiwoom.com")
        == "wss://mockapi.kiwoom.com:10000/api/dostk/websocket"
    )
    assert ws_url_for("http://127.0.0.1:8123") == "ws://127.0.0.1:8123/api/dostk/websocket"
    assert ws_url_for("https://sim.test:9443/") == "wss://sim.test:9443/api/dostk/websocket"


def test_issue14_login_register_and_price_push() -> None:
    with feed_up() as (live, rec, feed):
        live.sim.set_price("005930", 70100)
        rec.wait(lambda r: r.prices() == [70100])
        live.sim.set_price("005930", 69900)  # below the base: signed "-69900" on the wire
        rec.wait(lambda r: r.prices() == [70100, 69900])
        assert rec.states == [(True, "connected")]
        # REMOVE: no more pushes for the symbol (an order event still arrives after it)
        feed.watch_orders()
        feed.unwatch_prices(["005930"])
        rec.wait(lambda r: not live.sim.hub.wants_prices())
        live.sim.set_price("005930", 70500)
        live.client.place("005930", "buy", 1, 70000, "limit")
        rec.wait(lambda r: "accepted" in r.kinds())
        assert rec.prices() == [70100, 69900]


def test_issue14_ping_is_echoed_unchanged() -> None:
    with live_sim(ping_interval=0.05) as live:
        rec = Recorder()
        with live.feed(rec) as feed:
            feed.start()
            assert feed.wait_up(30)
            rec.wait(lambda r: live.session().echoes >= 3)
            assert feed.pings >= 3


def test_issue14_login_with_an_expired_token_renews_it_once() -> None:
    with live_sim() as live:
        live.client.token()  # held, then invalidated by the broker
        issued = live.client.tokens.issued
        live.sim.expire_tokens()
        rec = Recorder()
        with live.feed(rec) as feed:
            feed.watch_prices(["005930"])
            feed.start()
            assert feed.wait_up(30)
            assert feed.token_refreshes == 1
            assert live.client.tokens.issued == issued + 1
            rec.wait(lambda r: live.sim.hub.wants_prices())
            live.sim.set_price("005930", 70100)
            rec.wait(lambda r: r.prices() == [70100])


def test_issue14_no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with feed_up() as (live, rec, feed):
        live.sim.expire_tokens()
        live.sim.faults.add("ws_drop")
        live.sim.set_price("005930", 70100)  # dropped, then LOGIN refused, renewed
        rec.wait(lambda r: feed.connects >= 2)
        token = live.client.tokens.held_value()
    assert token
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(rec.states)
    assert '"trnm": "LOGIN"' not in text  # no frame is logged (client or simulator)
    for secret in (token, "feed-appkey-1", "feed-secret-1"):
        assert secret not in text


def test_issue14_reconnect_and_register_again_after_a_drop() -> None:
    with feed_up(orders=True) as (live, rec, _feed):
        live.sim.faults.add("ws_drop:api=0B")
        live.sim.set_price("005930", 70100)  # this push drops the connection instead
        rec.wait(lambda r: len(r.states) == 3 and r.orders_registered == 2)  # 00 again
        rec.wait(lambda r: live.sim.hub.wants_prices())
        assert [up for up, _ in rec.states] == [True, False, True]
        live.sim.set_price("005930", 70200)
        rec.wait(lambda r: 70200 in r.prices())
        live.client.place("005930", "buy", 1, 69000, "limit")
        rec.wait(lambda r: "accepted" in r.kinds())  # 00 registered again too


# Pushed numbers are written as the broker writes them in its answers (padding=none: "1").
@pytest.mark.parametrize("reading", readings("padding"))
def test_issue14_every_order_event_kind(reading: Behaviour) -> None:
    with feed_up(scenario_text(PARTIAL, reading), prices=False, orders=True) as (live, rec, _feed):
        c = live.client
        first = c.place("005930", "buy", 10, 70000, "limit").ord_no  # fills 3 of 10
        rec.wait(lambda r: r.kinds() == ["accepted", "filled"])
        moved = c.modify(first, "005930", 69000).ord_no
        rec.wait(lambda r: r.kinds()[-2:] == ["accepted", "modified"])
        c.cancel(moved, "005930")
        rec.wait(lambda r: r.kinds()[-2:] == ["accepted", "cancelled"])
        with pytest.raises(e.Rejected):
            c.cancel(moved, "005930")  # nothing left: refused, and pushed as 거부
        rec.wait(lambda r: r.kinds()[-1] == "rejected")
        c.place("005930", "buy", 5, 70000, "limit_ioc")  # 3 fill, the broker cancels 2
        rec.wait(lambda r: r.kinds()[-3:] == ["accepted", "filled", "cancelled"])
    ev = rec.events
    fill = ev[1]
    assert (fill.ord_no, fill.fill_qty, fill.fill_price) == (first, 3, 70000)
    assert first == reading.number("0000001")
    assert (fill.order_qty, fill.open_qty, fill.filled_qty) == (10, 7, 3)
    assert (fill.side, fill.symbol, fill.time) == ("buy", "005930", "100000")
    modified = ev[3]
    assert (modified.ord_no, modified.orig_ord_no, modified.order_price) == (moved, first, 69000)
    assert modified.label == "+매수정정" and modified.state == "확인"
    cancelled = ev[5]
    assert (cancelled.orig_ord_no, cancelled.order_qty, cancelled.label) == (moved, 7, "+매수취소")
    rejected = ev[6]
    assert rejected.state == "거부" and rejected.reason and rejected.ord_no == ""
    assert ev[-1].state == "취소" and ev[-1].open_qty == 0


def test_issue14_stalled_socket_is_noticed_and_replaced() -> None:
    with feed_up(idle_timeout=1.0) as (live, rec, _feed):
        live.sim.faults.add("ws_stall:api=0B")  # for good: nothing more on that socket
        live.sim.set_price("005930", 70100)
        rec.wait(lambda r: len(r.states) >= 3 and r.states[-1][0])
        assert any("stalled" in why for up, why in rec.states if not up), rec.states
        _push_until_seen(live, rec)
        assert 70100 not in rec.prices()  # it was stuck on the stalled socket


def test_issue14_malformed_json_frame_is_skipped() -> None:
    with feed_up() as (live, rec, feed):
        live.sim.faults.add("ws_malformed")
        live.sim.set_price("005930", 70100)
        rec.wait(lambda r: r.prices() == [70100])
        assert feed.malformed == 1
        assert feed.connects == 1 and rec.states == [(True, "connected")]


def test_issue14_malformed_frame_breaks_the_connection_and_it_recovers() -> None:
    with feed_up() as (live, rec, _feed):
        live.sim.faults.add("ws_malformed:raw=yes")
        live.sim.set_price("005930", 70100)
        rec.wait(lambda r: len(r.states) == 3 and live.sim.hub.wants_prices())
        assert [up for up, _ in rec.states] == [True, False, True]
        live.sim.set_price("005930", 70200)
        rec.wait(lambda r: 70200 in r.prices())


def test_issue14_late_order_event_arrives_out_of_order() -> None:
    with feed_up(prices=False, orders=True) as (live, rec, _feed):
        live.sim.faults.add("ws_late:api=00,ms=600000")  # held until the next 00
        live.client.place("005930", "buy", 10, 70000, "limit")  # accepted, filled
        rec.wait(lambda r: len(r.events) == 2)
        assert rec.kinds() == ["filled", "accepted"]
        assert rec.events[0].filled_qty == 10


class _FailsOnce(Recorder):
    """A listener whose first price event raises (a plan whose journal was closed, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def price(self, tick: PriceTick) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("journal is not open")
        super().price(tick)


def test_issue11_a_listener_failing_on_one_event_does_not_end_the_feed() -> None:
    """The listener raised on a pushed price: the feed's reading thread died with it,
    the feed still said "up", and no later price or order event came (a stop-loss
    watching it was blind for the rest of the day). The failure is the listener's own;
    the next events arrive."""
    rec = _FailsOnce()
    with live_sim() as live, live.feed(rec) as feed:
        feed.watch_prices(["005930"])
        feed.start()
        assert feed.wait_up(WAIT)
        rec.wait(lambda r: live.sim.hub.wants_prices())
        live.sim.set_price("005930", 70100)  # the listener fails on this one
        rec.wait(lambda _r: rec.failed)
        live.sim.set_price("005930", 69900)
        rec.wait(lambda r: r.prices() == [69900])
        assert feed.listener_errors == 1 and rec.states == [(True, "connected")]


def test_issue14_late_order_event_with_no_next_one_arrives_after_its_delay() -> None:
    with feed_up(prices=False, orders=True) as (live, rec, feed):
        live.sim.faults.add("ws_late:api=00")  # held 300 ms, or until the next 00
        live.client.place("005930", "buy", 10, 69000, "limit")  # rests: one 00 alone
        rec.wait(lambda r: r.kinds() == ["accepted"])
        assert feed.connects == 1 and rec.states == [(True, "connected")]


def test_issue14_short_stall_delays_the_pushes_and_keeps_the_connection() -> None:
    with feed_up() as (live, rec, feed):  # a stall is 5 s of silence at least: 300 ms is none
        live.sim.faults.add("ws_stall:ms=300")
        live.sim.set_price("005930", 70100)  # held by the stall, then sent
        live.sim.set_price("005930", 70200)
        rec.wait(lambda r: r.prices() == [70100, 70200])
        assert feed.connects == 1 and rec.states == [(True, "connected")]


def test_issue14_stall_bound_is_learned_from_the_pings_not_the_idle_timeout() -> None:
    """With a generous idle_timeout (the bound before any PING is seen), a stall is still
    taken as one after three PING intervals (at least min_stall), once they are known."""
    with feed_up(idle_timeout=600.0, min_stall=1.0) as (live, rec, feed):
        rec.wait(lambda r: feed.ping_interval is not None)
        assert feed.stall_after < 600.0
        live.sim.faults.add("ws_stall:api=0B")  # for good: nothing more on that socket
        live.sim.set_price("005930", 70100)
        rec.wait(lambda r: any(not up for up, _ in r.states))
        [why] = [why for up, why in rec.states if not up]
        assert "stalled" in why, rec.states
