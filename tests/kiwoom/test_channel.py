"""The order channel (kiwoom/channel.py): an order with a `ready` hook is built and
connected before the hook, and goes out whole after it, exactly once, over loopback (and
TLS). The simulator's request log is the truth about what arrived."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import trustme

from planrunner.clock import SEOUL, ManualClock
from planrunner.kiwoom import channel
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.client import KiwoomClient, Ready
from planrunner.sim import Simulator, parse_scenario
from planrunner.sim import server as sim_server
from tests.support.fake_broker import APPKEY, SECRETKEY

TIMEOUT: dict[str, float | None] = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
SCENARIO = """symbols:
  "005930": {base: 70000, path: [["09:00", 70000]], walk: false}
"""


@pytest.fixture
def sim() -> Simulator:
    clock = ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL))
    return Simulator(clock=clock, scenario=parse_scenario(SCENARIO), first_ord_no=139)


@pytest.fixture
def server(sim: Simulator) -> Iterator[sim_server.SimServer]:
    with sim.serve(port=0) as s:
        yield s


def make_client(url: str, **kw: object) -> KiwoomClient:
    return KiwoomClient(env="sim", base_url=url, appkey=APPKEY, secretkey=SECRETKEY, **kw)  # type: ignore[arg-type]


@pytest.fixture
def client(server: sim_server.SimServer) -> Iterator[KiwoomClient]:
    with make_client(server.url) as c:
        c.token()
        yield c


def arrived(sim: Simulator, api_id: str) -> int:
    return sum(1 for entry in sim.log if entry.api_id == api_id)


def place(client: KiwoomClient, ready: Ready | None = None) -> str:
    return client.place("005930", "buy", 1, 69_000, "limit", ready=ready).ord_no


def test_the_order_is_ready_before_the_hook_and_sent_after_it(
    sim: Simulator, client: KiwoomClient
) -> None:
    seen: list[int] = []

    def ready(_p: object) -> None:
        seen.append(arrived(sim, "kt10000"))
        assert client._channel is not None and client._channel._idle == []  # checked out

    ord_no = place(client, ready)
    assert seen == [0]
    assert arrived(sim, "kt10000") == 1
    assert list(sim.orders()) == [ord_no]


def test_one_connection_is_kept_alive_across_orders(sim: Simulator, client: KiwoomClient) -> None:
    assert client._channel is not None
    first = place(client, lambda _p: None)
    (conn,) = client._channel._idle
    ord_no = client.modify(first, "005930", 69_100, ready=lambda _p: None).ord_no
    assert client._channel._idle == [conn]
    assert ord_no != first
    assert arrived(sim, "kt10000") + arrived(sim, "kt10002") == 2


def test_a_connection_the_server_closed_is_not_used(
    sim: Simulator, server: sim_server.SimServer, client: KiwoomClient
) -> None:
    place(client, lambda _p: None)
    server._server.close_connections()
    place(client, lambda _p: None)
    assert arrived(sim, "kt10000") == 2


def test_a_connection_closed_during_the_wait_is_replaced_before_sending(
    sim: Simulator, server: sim_server.SimServer, client: KiwoomClient
) -> None:
    place(client, lambda _p: None)
    place(client, lambda _p: server._server.close_connections())  # closes the checked-out one
    assert arrived(sim, "kt10000") == 2


def test_an_idle_connection_past_keep_alive_is_replaced(
    sim: Simulator, client: KiwoomClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client._channel is not None
    place(client, lambda _p: None)
    (old,) = client._channel._idle
    monkeypatch.setattr(channel, "KEEPALIVE_SECONDS", -1.0)
    place(client, lambda _p: None)
    assert client._channel._idle != [old]
    assert old.sock.fileno() == -1  # closed
    assert arrived(sim, "kt10000") == 2


def test_a_dropped_answer_is_an_unknown_outcome_and_the_connection_is_gone(
    sim: Simulator, client: KiwoomClient
) -> None:
    assert client._channel is not None
    sim.faults.drop("kt10000")
    with pytest.raises(e.UnknownOutcome):
        place(client, lambda _p: None)
    assert arrived(sim, "kt10000") == 1  # it did arrive, and was not resent
    assert client._channel._idle == []
    place(client, lambda _p: None)
    assert arrived(sim, "kt10000") == 2


def test_no_answer_within_the_read_timeout_is_an_unknown_outcome(
    sim: Simulator, server: sim_server.SimServer
) -> None:
    with make_client(server.url, timeout=0.2) as client:
        client.token()
        sim.faults.add("latency:ms=600,api=kt10000")
        with pytest.raises(e.UnknownOutcome):
            place(client, lambda _p: None)
    assert arrived(sim, "kt10000") == 0  # not yet: the simulator was still sleeping


def test_an_unreachable_broker_is_not_sent_and_never_waited_for(
    sim: Simulator, server: sim_server.SimServer
) -> None:
    with make_client(server.url, sleep=lambda _s: None) as client:
        client.token()
        place(client, lambda _p: None)
        server.close()
        waited: list[bool] = []
        with pytest.raises(e.Unreachable):
            place(client, lambda _p: waited.append(True))
    assert waited == []
    assert arrived(sim, "kt10000") == 1


def test_a_hook_that_raises_sends_nothing_and_closes_the_connection(
    sim: Simulator, client: KiwoomClient
) -> None:
    assert client._channel is not None

    def stop(_p: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        place(client, stop)
    assert arrived(sim, "kt10000") == 0
    assert client._channel._idle == []


def test_orders_go_out_over_tls(sim: Simulator) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    class TLSServer(sim_server._Server):
        def get_request(self) -> tuple[socket.socket, object]:
            sock, addr = super().get_request()
            return server_ctx.wrap_socket(sock, server_side=True), addr

    tls = TLSServer(sim, ("127.0.0.1", 0))
    thread = threading.Thread(target=tls.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"https://localhost:{tls.server_address[1]}"
        with make_client(url, ssl_context=client_ctx) as client:
            client.token()  # through httpx, same trust
            first = place(client, lambda _p: None)
            client.modify(first, "005930", 69_100, ready=lambda _p: None)
        assert arrived(sim, "kt10000") == arrived(sim, "kt10002") == 1
        untrusting = channel.Channel(url)  # the system's CA store does not know this one
        with pytest.raises(httpx.ConnectError):
            untrusting.prepare(httpx.URL(url + "/api/dostk/ordr"), {}, b"{}", TIMEOUT)
    finally:
        tls.shutdown()
        tls.close_connections()
        tls.server_close()
        thread.join(5)


def test_a_prewarmed_connection_is_the_one_the_next_order_uses(
    sim: Simulator, client: KiwoomClient
) -> None:
    assert client._channel is not None
    client.prewarm()  # in the background, as the runner does while a job's checks run
    deadline = time.monotonic() + 5
    while not client._channel._idle and time.monotonic() < deadline:
        time.sleep(0.01)
    (warm,) = client._channel._idle
    place(client, lambda _p: None)
    assert client._channel._idle == [warm]
    assert arrived(sim, "kt10000") == 1


def test_prewarming_an_unreachable_broker_leaves_nothing_and_raises_nothing() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    ch = channel.Channel(url)
    ch.prewarm(0.5)
    assert ch._idle == []


def test_prewarming_stops_at_a_few_fresh_idle_connections(server: sim_server.SimServer) -> None:
    ch = channel.Channel(server.url)
    try:
        for _ in range(channel.PREWARM_UP_TO + 3):
            ch.prewarm(1.0)
        assert len(ch._idle) == channel.PREWARM_UP_TO
    finally:
        ch.close()
