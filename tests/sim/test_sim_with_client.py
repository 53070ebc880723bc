"""Our client (planrunner.kiwoom) against the simulator: the two independent readings of
the wire format checked against each other, with the sim's log as the truth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planrunner.clock import ManualClock
from planrunner.kiwoom import exceptions
from planrunner.kiwoom.client import KiwoomClient
from planrunner.sim import Simulator
from tests.support.sim import sim_client


@pytest.fixture
def client(sim: Simulator, clock: ManualClock) -> Iterator[KiwoomClient]:
    with sim_client(sim, clock) as c:
        yield c


def test_lineage_place_modify_cancel(sim: Simulator, client: KiwoomClient) -> None:
    placed = client.place("005930", "buy", 10, 69_000, "limit")
    modified = client.modify(placed.ord_no, "005930", 69_100)
    cancelled = client.cancel(modified.ord_no, "005930")
    assert [placed.ord_no, modified.ord_no, cancelled.ord_no] == ["0000001", "0000002", "0000003"]
    assert (modified.qty, cancelled.qty) == (10, 10)
    assert [(e.api_id, e.body.get("orig_ord_no")) for e in sim.log[1:]] == [
        ("kt10000", None),
        ("kt10002", "0000001"),
        ("kt10003", "0000002"),
    ]
    assert client.open_orders() == []


def test_filled_and_unknown_orders_are_told_apart(sim: Simulator, client: KiwoomClient) -> None:
    placed = client.place("005930", "buy", 10, 69_500, "limit")
    sim.set_price("005930", 69_500)
    with pytest.raises(exceptions.AlreadyFilled):
        client.cancel(placed.ord_no, "005930")
    with pytest.raises(exceptions.NoSuchOrder):
        client.cancel("0999999", "005930")
    (fill,) = client.fills()
    assert (fill.ord_no, fill.filled_qty, fill.fill_price) == (placed.ord_no, 10, 69_500)


def test_commit_then_drop_is_an_unknown_outcome_and_never_resent(
    sim: Simulator, client: KiwoomClient
) -> None:
    sim.faults.drop(api_id="kt10000")
    with pytest.raises(exceptions.UnknownOutcome):
        client.place("005930", "buy", 10, 69_000, "limit")
    assert len(sim.orders()) == 1
    assert [e.api_id for e in sim.log].count("kt10000") == 1
    (open_order,) = client.open_orders()
    assert open_order.ord_no == next(iter(sim.orders()))


def test_a_rate_limit_is_retried_and_the_order_placed_once(
    sim: Simulator, client: KiwoomClient
) -> None:
    sim.faults.rate_limit(api_id="kt10000", count=2)
    client.place("005930", "buy", 10, 69_000, "limit")
    sent = [e for e in sim.log if e.api_id == "kt10000"]
    assert [e.committed for e in sent] == [False, False, True]
    assert len(sim.orders()) == 1


def test_an_expired_token_is_refreshed_once_and_the_call_resent(
    sim: Simulator, client: KiwoomClient
) -> None:
    client.quote("005930")
    sim.expire_tokens()
    quote = client.quote("005930")
    assert quote.price == 70_000
    assert [e.api_id for e in sim.log] == ["au10001", "ka10001", "ka10001", "au10001", "ka10001"]


def test_a_5xx_on_an_order_is_an_unknown_outcome(sim: Simulator, client: KiwoomClient) -> None:
    sim.faults.error(api_id="kt10001", status=500, commit=True)
    with pytest.raises(exceptions.UnknownOutcome):
        client.place("005930", "sell", 3, 70_500, "limit")
    assert [o.side for o in sim.orders().values()] == ["sell"]
