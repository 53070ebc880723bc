"""issue 14, the trigger reaction goal: a place's twins (the identical orders already at
the broker, journaled with its intent and never claimed) without a read on the order's
path while the live feed carries the account's `00` events (engine/standing.py).

The real client, feed and executor against the simulator served on 127.0.0.1 (REST and
WebSocket); its clock stands still, so every order is stamped in the intent's own
second: the case where only the twins tell a hand-placed order from ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from planrunner.app.launch import feed_prices
from planrunner.engine import reconcile as reconcile_module
from planrunner.engine import standing as standing_module
from planrunner.engine.events import Event
from planrunner.engine.execute import Executor, InDoubt
from planrunner.engine.journal import Journal, replay
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.feed import Feed
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.model import Place, trigger_job
from tests.support.faults import Answering
from tests.support.feed import WAIT, Live, live_sim
from tests.support.rehearsal import job, plan, spec, until

# A trigger's place: only a place a trigger fires takes its twins from the feed (a
# scheduled place reads the lists before it waits for its instant).
JOB = trigger_job("buy")
ENTRY = plan([spec()], [job(JOB, 60, Place(spec=spec()))])


@dataclass
class Rig:
    live: Live
    executor: Executor
    feed: Feed
    journal: Journal
    events: list[Event]
    first: str = ""  # the hand's order open before the feed started

    def hand(self) -> str:
        """An order identical to `entry`, placed by hand (the same account)."""
        return self.live.client.place("005930", "buy", 10, 69000, "limit").ord_no

    def place(self) -> None:
        self.executor.execute(JOB, ENTRY.jobs[0].action)

    def intent(self) -> dict[str, Any]:
        (found,) = [r for r in replay(self.journal.path).records if r["type"] == "intent"]
        return found

    def claimed(self) -> list[dict[str, Any]]:
        """Reconcile the journal now: the records by which it claimed an order."""
        reconcile_module.reconcile(
            journal=self.journal,
            client=self.executor.client,
            clock=self.live.clock,
            emit=self.events.append,
        )
        records = replay(self.journal.path).records
        return [x for x in records if x["type"] in ("reconciled", "ack")]

    def since(self, count: int) -> list[str]:
        """The api-ids the simulator received after its `count`-th kt10000, up to the
        next one (or the end)."""
        ids = [e.api_id for e in self.live.sim.log_snapshot()]
        at = [i for i, api in enumerate(ids) if api == "kt10000"]
        end = at[count] if len(at) > count else len(ids)
        return ids[at[count - 1] + 1 : end]


@contextmanager
def rig(
    tmp_path: Path,
    *,
    backoff: tuple[float, float] = (0.05, 0.5),
    kt10000: Callable[[httpx.Request, httpx.BaseTransport], httpx.Response] | None = None,
    orders: bool = True,
    api: str | tuple[str, ...] = "kt10000",
) -> Iterator[Rig]:
    """The plan's executor with the feed up (its `00` registration acknowledged and a
    standing read in), after one identical order was placed by hand; `kt10000`: what
    the plan's client hears for its own place (or for `api`); `orders=False`: the feed
    never registers for the `00` events (as if the broker never acknowledged it), only
    the prices."""
    with live_sim() as live:
        client = live.client
        if kt10000 is not None:
            transport = Answering(httpx.HTTPTransport(), api, kt10000)
            client = KiwoomClient(
                appkey="feed-appkey-1",
                secretkey="feed-secret-1",
                env="mock",
                base_url=live.server.url,
                clock=live.clock,
                rate_limits=RateLimits(),
                transport=transport,
            )
        journal = Journal(tmp_path / "journal.jsonl")
        journal.open()
        events: list[Event] = []
        ex = Executor(
            plan=ENTRY, client=client, journal=journal, clock=live.clock, emit=events.append
        )
        push, _pokes = feed_prices(ex)
        feed = Feed(live.server.ws_url, client.tokens, push.listener(), backoff=backoff)
        feed.close_timeout = 0.2
        if orders:
            feed.watch_orders()
        else:
            feed.watch_prices(["005930"])
        assert ex.standing is not None
        ex.standing.heard = lambda: feed.heard  # as `planrunner run` wires it
        r = Rig(live, ex, feed, journal, events)
        r.first = r.hand()  # open before the feed: only the standing read can show it
        try:
            feed.start()
            assert ex.standing is not None
            if orders:
                until(lambda: ex.standing is not None and ex.standing.ready, WAIT)
            else:  # up, and the simulator has taken the price registration
                hub = live.sim.hub
                until(lambda: any(s.wants("0B", "005930") for s in hub.sessions()), WAIT)
                until(lambda: feed.up, WAIT)
            yield r
        finally:
            feed.close()
            if ex.standing is not None:
                ex.standing.close()
            journal.close()
            if client is not live.client:
                client.close()


def announced(r: Rig, number: str) -> None:
    """Wait until the feed has announced `number` (its `00` event arrived)."""
    standing = r.executor.standing
    assert standing is not None
    until(lambda: number.lstrip("0") in standing.announced(), WAIT)


def test_issue14_a_place_with_the_feed_up_reads_nothing_before_its_post(tmp_path):
    """On main the place read ka10075 (the twins) right before its kt10000, on the
    trigger's path. Now its twins come from the standing read (the order open before
    the feed) and the `00` events (the one placed after the read), with no read."""
    with rig(tmp_path) as r:
        second = r.hand()
        announced(r, second)
        r.place()
        assert r.since(2) == [], r.since(2)  # between the hand's kt10000 and ours
        intent = r.intent()
        assert intent["twins_from"] == "feed" and intent["twins_read"] == "open", intent
        assert {r.first, second} <= set(intent["twins"]), intent["twins"]
        # ours is at the broker and acked: the twins are the hand's, not ours
        (ack,) = [x for x in replay(r.journal.path).records if x["type"] == "ack"]
        assert ack["ord_no"] not in intent["twins"]


def test_issue14_a_scheduled_place_reads_before_its_post_with_the_feed_up(tmp_path):
    """Only a trigger's place takes its twins from the feed: a place the plan schedules
    reads the lists (before it waits for its instant), so its reconcile can still claim
    an order stamped in its own second."""
    with rig(tmp_path) as r:
        second = r.hand()
        announced(r, second)
        r.executor.execute("entry.place", ENTRY.jobs[0].action)
        assert "ka10075" in r.since(2), r.since(2)  # the read, after the hand's kt10000
        intent = r.intent()
        assert intent["twins_from"] == "read", intent
        assert {r.first, second} <= set(intent["twins"]), intent["twins"]


def test_issue14_after_a_feed_drop_the_place_reads_synchronously(tmp_path):
    """The socket drops (no close frame) and stays down (a long backoff): the standing
    read is no longer trusted, the place reads the open orders before its POST."""
    with rig(tmp_path, backoff=(60.0, 60.0)) as r:
        r.live.sim.faults.add("ws_drop:api=00")
        r.hand()  # its 00 push drops the socket
        standing = r.executor.standing
        assert standing is not None
        until(lambda: not r.feed.up and not standing.ready, WAIT)
        r.place()
        assert "ka10075" in r.since(2), r.since(2)
        intent = r.intent()
        assert intent["twins_from"] == "read" and len(intent["twins"]) == 2, intent


def test_issue14_the_feed_back_reads_again_and_serves_the_twins(tmp_path):
    """After a drop and the reconnect, a new standing read is sent after the `00`
    registration is acknowledged again; places use it, not a read of their own."""
    with rig(tmp_path) as r:
        standing = r.executor.standing
        assert standing is not None
        reads = standing.reads
        connects = r.feed.connects
        r.live.sim.faults.add("ws_drop:api=00")
        dropped = r.hand()
        until(lambda: r.feed.connects > connects and standing.ready, WAIT)
        assert standing.reads > reads
        r.place()
        assert r.since(2) == ["ka10075"], r.since(2)  # the new standing read only
        intent = r.intent()
        assert intent["twins_from"] == "feed" and dropped in intent["twins"], intent


def test_issue14_a_skipped_frame_makes_a_new_standing_read(tmp_path):
    """A frame the feed could not read may have been a `00`: what was announced before
    it no longer counts, and a new standing read is sent before places use it again."""
    with rig(tmp_path) as r:
        standing = r.executor.standing
        assert standing is not None
        reads = standing.reads
        r.live.sim.faults.add("ws_malformed:api=00")
        hand = r.hand()
        until(lambda: r.feed.malformed > 0, WAIT)
        until(lambda: standing.reads > reads and standing.ready, WAIT)
        r.place()
        intent = r.intent()
        assert intent["twins_from"] == "feed" and hand in intent["twins"], intent


def test_issue14_a_skipped_frame_without_the_00_registration_keeps_the_sync_read(tmp_path):
    """The broker never acknowledged the `00` registration (no order event can arrive),
    and the feed skips a frame it could not read (a price push here). The skipped frame
    must not start a standing read as if the events flowed: an order placed by hand after
    it is announced by nothing, so the place reads the open orders itself."""
    with rig(tmp_path, orders=False) as r:
        standing = r.executor.standing
        assert standing is not None
        r.live.sim.faults.add("ws_malformed:api=0B")
        r.live.sim.set_price("005930", 70100)  # its push comes after a frame not JSON
        until(lambda: r.feed.malformed > 0, WAIT)
        # the skipped frame's gap is handed to the listener after it is counted
        until(lambda: r.feed.up, WAIT)
        hand = r.hand()
        r.place()
        intent = r.intent()
        assert intent["twins_from"] == "read", intent
        assert {r.first, hand} <= set(intent["twins"]), intent
        assert standing.reads == 0


def test_issue14_a_silent_feed_is_not_trusted_with_the_twins(tmp_path):
    """The socket stalls (nothing more arrives, PINGs neither): the feed stays "up" until
    its 60 s idle timeout, but `00` events may be held back meanwhile, so after a second
    of silence the place reads the open orders itself."""
    with rig(tmp_path) as r:
        r.live.sim.faults.add("ws_stall:api=00")
        held = r.hand()  # its 00 push stalls the socket for good
        until(lambda: time.monotonic() - r.feed.heard > 2 * standing_module.QUIET_SECONDS, WAIT)
        assert r.feed.up
        r.place()
        assert "ka10075" in r.since(2), r.since(2)
        intent = r.intent()
        assert intent["twins_from"] == "read" and held in intent["twins"], intent


@pytest.fixture
def short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile_module, "SETTLE_SECONDS", 0.15)


def test_issue14_an_in_doubt_place_never_claims_a_twin_only_the_feed_announced(
    tmp_path, short_settle
):
    """Our request never reaches the broker (the connection drops before it): the only
    identical order there was placed by hand after the standing read, in the same
    second, and is known only from its `00` event. The reconcile leaves the place in
    doubt and claims nothing."""

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with rig(tmp_path, kt10000=lost) as r:
        second = r.hand()
        announced(r, second)
        with pytest.raises(InDoubt):
            r.place()
        assert r.since(2) == []  # nothing read, and ours never arrived
        intent = r.intent()
        assert intent["twins_from"] == "feed" and second in intent["twins"], intent
        settled = reconcile_module.reconcile(
            journal=r.journal,
            client=r.executor.client,
            clock=r.live.clock,
            emit=r.events.append,
        )
        assert settled == 0
        records = replay(r.journal.path).records
        assert not [x for x in records if x["type"] in ("reconciled", "ack")], records
        why = [e.message for e in r.events if e.job == JOB]
        assert any(second in m and "already open before our request" in m for m in why), why


def test_issue14_a_hand_order_whose_00_event_is_late_is_never_claimed(tmp_path, short_settle):
    """An identical order placed by hand just before ours, its `00` event still on its
    way (held 1.5 s) when our place takes its twins from the feed; ours never reaches
    the broker. The hand's order is the one candidate, stamped in our intent's second:
    the reconcile must not claim it."""

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with rig(tmp_path, kt10000=lost) as r:
        r.live.sim.faults.add("ws_late:api=00,ms=1500")
        hand = r.hand()
        with pytest.raises(InDoubt):
            r.place()
        intent = r.intent()
        claimed = r.claimed()
        assert not claimed, (intent, claimed, hand)


def test_issue14_an_unexpected_error_of_the_standing_read_does_not_end_it(tmp_path):
    """The standing read's first ka10075 fails with an error the client does not turn
    into a broker error (as a client closed under it raises at the end of a run): the
    standing read is tried again (no thread dying with a traceback on stderr)."""
    failed: list[str] = []

    def odd(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        if not failed:
            failed.append(request.url.path)
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return inner.handle_request(request)

    with rig(tmp_path, kt10000=odd, api="ka10075") as r:
        standing = r.executor.standing
        assert standing is not None and failed and standing.ready


@pytest.mark.xfail(
    strict=True,
    reason="accepted, and said in the README: a scheduled place's twins are read before it "
    "waits for its instant (a lead of 0.2 s real, up to a virtual second on a compressed "
    "clock); an identical order placed in that gap is in no list and stamped in the "
    "intent's own second, yet the read counts as covering that second (reconcile.py "
    "`covered`), so it is claimed. Closing it costs either a read on the order's path at "
    "its instant (rate-limited: late orders) or every scheduled place left in doubt after "
    "a dropped connection (no adoption of what is ours)",
)
def test_a_scheduled_place_never_claims_a_hand_order_placed_while_it_waited(tmp_path, short_settle):
    """A place the plan schedules reads its twins, then waits for its instant. An
    identical order is placed by hand meanwhile (after the read, before our POST); ours
    never reaches the broker. The hand's order is the one candidate, stamped in our
    intent's second, and no read after it says it was not there before our request: the
    reconcile must not claim it."""
    placed: list[str] = []
    live: list[Live] = []

    def lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        # the instant: the hand's order went in while ours waited; ours is lost
        placed.append(live[0].client.place("005930", "buy", 10, 69000, "limit").ord_no)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with rig(tmp_path, kt10000=lost) as r:
        live.append(r.live)
        with pytest.raises(InDoubt):
            r.executor.execute("entry.place", ENTRY.jobs[0].action)
        intent = r.intent()
        assert intent["twins_from"] == "read" and placed[0] not in intent["twins"], intent
        claimed = r.claimed()
        assert not claimed, (intent, claimed, placed)


def test_a_slow_answer_to_the_reconcile_read_does_not_move_the_same_second(tmp_path, short_settle):
    """As above (a hand order just before ours, its `00` late; ours lost), and the
    answer to the reconcile's own read of the open orders spends 1.5 s on its way after
    the broker dated it. Taken as the broker's clock now, that `Date` puts the broker 1 s
    behind us: our intent's second moves a second earlier and the hand's order, stamped
    in the true one, looks placed after our request. The broker's clock is known only to
    within the time the answer took: the hand's order is still never claimed."""
    armed: list[bool] = []
    live: list[Live] = []

    def answer(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        if request.headers.get("api-id") == "kt10000":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        response = inner.handle_request(request)
        if armed:
            response.read()
            live[0].clock.advance(1.5)  # on its way, after the broker dated it
        return response

    with rig(tmp_path, kt10000=answer, api=("kt10000", "ka10075", "ka10076")) as r:
        live.append(r.live)
        r.live.sim.faults.add("ws_late:api=00,ms=1500")
        hand = r.hand()
        with pytest.raises(InDoubt):
            r.place()
        intent = r.intent()
        armed.append(True)
        claimed = r.claimed()
        assert not claimed, (intent, claimed, hand, r.executor.client.broker_offset)
