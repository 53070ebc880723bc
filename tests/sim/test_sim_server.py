"""The loopback server: in a thread (sim.serve) and as `planrunner sim` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from planrunner.sim import Simulator
from planrunner.sim.server import SimServer
from tests.support.loopback import SimProcess
from tests.support.sim import Raw, msg_code


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve(port=0) as s:
        yield s


@pytest.fixture
def remote(server: SimServer) -> Iterator[Raw]:
    with httpx.Client(base_url=server.url) as http:
        raw = Raw(http)
        raw.login()
        yield raw


def test_the_server_speaks_kiwoom_on_loopback(server: SimServer, remote: Raw) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    placed = remote.buy(qty=3, price=69_000)
    assert placed["return_code"] == 0
    resp = remote.post("ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})
    assert resp.headers["api-id"] == "ka10075"
    assert (resp.headers["cont-yn"], resp.headers["next-key"]) == ("N", "")
    assert [o["ord_no"] for o in resp.json()["oso"]] == [placed["ord_no"]]
    assert msg_code(remote.call("kt10000", {"stk_cd": "005930"})) == 1511


def test_control_endpoints_read_the_truth_and_steer(remote: Raw) -> None:
    ord_no = remote.buy(qty=3, price=69_000)["ord_no"]
    http = remote.http
    moved = http.post("/_sim/price", json={"symbol": "005930", "price": 68_900}).json()
    assert moved == {"symbol": "005930", "price": 68_900}
    (order,) = http.get("/_sim/orders").json()["orders"]
    assert (order["ord_no"], order["state"], order["filled"]) == (ord_no, "filled", 3)
    log = http.get("/_sim/log").json()["log"]
    assert [e["api_id"] for e in log] == ["au10001", "kt10000"]
    assert log[0]["body"]["appkey"] == "***"
    faults = http.post("/_sim/faults", json={"spec": "rate_limit:api=ka10001"}).json()
    assert faults["faults"][0]["kind"] == "rate_limit"
    assert remote.post("ka10001", {"stk_cd": "005930"}).status_code == 429
    assert http.post("/_sim/faults", json={"spec": "nonsense"}).status_code == 400
    status = http.get("/_sim/status").json()
    assert status["quotes"]["005930"]["price"] == 68_900
    assert status["env"] == "mock"
    assert http.post("/_sim/expire-tokens").json() == {"expired": 1}
    assert msg_code(remote.call("ka10001", {"stk_cd": "005930"})) == 8005


def test_commit_then_drop_closes_the_socket_without_an_answer(sim: Simulator, remote: Raw) -> None:
    sim.faults.drop(api_id="kt10000")
    with pytest.raises(httpx.RemoteProtocolError):
        remote.buy(qty=1, price=69_000)
    assert len(sim.orders()) == 1
    # The client reconnects for the next call; the book still holds exactly one order.
    oso = remote.call("ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})["oso"]
    assert len(oso) == 1


def test_planrunner_sim_prints_its_url_first_and_stops_on_sigterm() -> None:
    # SimProcess reads the first line and refuses anything but the URL.
    sim = SimProcess(
        "--start", "2026-11-26T09:30", "--first-ord-no", "139",
        "--fault", "rate_limit:api=ka10001,count=1",
    )  # fmt: skip
    try:
        assert sim.url.startswith("http://127.0.0.1:") and sim.url.rsplit(":", 1)[1].isdigit()
        assert sim.proc.stdout is not None
        assert sim.proc.stdout.readline().startswith(
            "clock: virtual from 2026-11-26T09:30:00+09:00"
        )
        with httpx.Client(base_url=sim.url) as http:
            raw = Raw(http)
            raw.login()
            assert raw.buy(qty=1, price=69_000)["ord_no"] == "0000139"
            assert raw.post("ka10001", {"stk_cd": "005930"}).status_code == 429
            log = http.get("/_sim/log").json()["log"]
        assert [(e["api_id"], e["ord_no"]) for e in log] == [
            ("au10001", None),
            ("kt10000", "0000139"),
            ("ka10001", None),
        ]
    finally:
        sim.close()  # SIGTERM
    assert sim.proc.returncode == 0


def test_planrunner_sim_refuses_a_bad_fault_spec() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "planrunner", "sim", "--fault", "meteor"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "unknown fault 'meteor'" in done.stderr


@pytest.mark.real_clock
def test_a_request_is_logged_with_when_it_arrived_not_when_it_was_handled(
    sim: Simulator, server: SimServer, remote: Raw
) -> None:
    # The simulator is busy (its lock held) when the order arrives: the log still has the
    # arrival, which is what a client's lateness is measured to (bench/firing.py).
    order = threading.Thread(target=lambda: remote.buy(qty=1, price=69_000))
    with sim.lock:
        sent = time.time()
        order.start()
        time.sleep(0.3)
        released = time.time()
    order.join(5)
    entry = sim.log[-1]
    assert entry.api_id == "kt10000" and entry.received is not None
    assert sent <= entry.received < sent + 0.15 < released
    assert remote.http.get("/_sim/log").json()["log"][-1]["received"] == entry.received
