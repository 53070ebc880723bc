"""One request object from intent to wire: what the journal records is what was sent.

The executor builds each order request once, journals it, and hands that same object to
`KiwoomClient.send`. Checked against the simulator's request log (what arrived on the
wire), for place, modify, a partial cancel and a switch to market (cancel + market place).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from planrunner.kiwoom import wire
from planrunner.kiwoom.types import CancelAck, ModifyAck, PlaceAck
from planrunner.model import Cancel, Market, Modify, Policy, WireRequest
from tests.support.rehearsal import Rehearsal, entry_plan

ORDER_APIS = ("kt10000", "kt10001", "kt10002", "kt10003")


def _canonical(body: dict[str, str]) -> bytes:
    # The client's own serialisation (kiwoom/client.py): field order kept, no spaces.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_issue13_journaled_body_is_the_body_the_broker_received(tmp_path: Path) -> None:
    r = Rehearsal(tmp_path)
    result = r.run(
        entry_plan(
            (1, Modify(order="entry", price=69100)),
            (2, Cancel(order="entry", qty=3)),
            (3, Market(order="entry")),
            policy=Policy(misfire_grace=dt.timedelta(minutes=30)),  # never late under load
        )
    )
    assert result.exit_code == 0, result.attention
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    intents = [rec for rec in map(json.loads, lines) if rec["type"] == "intent"]
    received = [e for e in r.sim.log_snapshot() if e.api_id in ORDER_APIS]
    # place, modify, partial cancel, then the market switch: cancel all + market place.
    assert [(i["api_id"], i["kind"]) for i in intents] == [
        ("kt10000", "place"),
        ("kt10002", "modify"),
        ("kt10003", "cancel"),
        ("kt10003", "cancel"),
        ("kt10000", "market"),
    ]
    assert [e.api_id for e in received] == [i["api_id"] for i in intents]
    for intent, arrived in zip(intents, received, strict=True):
        assert _canonical(intent["body"]) == _canonical(arrived.body)
    assert intents[2]["body"]["cncl_qty"] == "3"
    assert intents[3]["body"]["cncl_qty"] == "0"
    assert intents[4]["body"]["trde_tp"] == "3" and intents[4]["body"]["ord_uv"] == ""


def test_issue13_client_sends_the_request_object_it_is_given(tmp_path: Path) -> None:
    r = Rehearsal(tmp_path)
    assert r.target is not None
    client = r.target.client
    place = wire.place_request(symbol="005930", side="buy", qty=10, price=69000, order_type="limit")
    placed = client.send(place)
    assert isinstance(placed, PlaceAck)
    modify = wire.modify_request(orig_ord_no=placed.ord_no, symbol="005930", price=69100)
    modified = client.send(modify)
    assert isinstance(modified, ModifyAck)
    cancel = wire.cancel_request(orig_ord_no=modified.ord_no, symbol="005930", qty=4)
    cancelled = client.send(cancel)
    assert isinstance(cancelled, CancelAck) and cancelled.qty == 4
    arrived = [e.body for e in r.sim.log_snapshot() if e.api_id in ORDER_APIS]
    assert [_canonical(b) for b in arrived] == [_canonical(q.body) for q in (place, modify, cancel)]


@pytest.mark.parametrize(
    "request_",
    [
        # What `show` prints before a number is known: never a request that can be sent.
        wire.modify_request(orig_ord_no="<entry@0>", symbol="005930", price="<entry@1>"),
        wire.place_request(symbol="005930", side="buy", qty=0, price=69000, order_type="limit"),
        wire.place_request(symbol="005930", side="buy", qty=1, price=None, order_type="limit"),
        wire.cancel_request(orig_ord_no="", symbol="005930"),
        wire.quote_request(symbol="005930"),
    ],
)
def test_issue13_send_refuses_what_cannot_go_on_the_wire(
    tmp_path: Path, request_: WireRequest
) -> None:
    r = Rehearsal(tmp_path)
    assert r.target is not None
    with pytest.raises(ValueError):
        r.target.client.send(request_)
    assert r.sim.log_snapshot() == []
