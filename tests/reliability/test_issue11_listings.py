"""Odd broker listings against the safety rules: the in-process simulator behind a
transport that changes what one list answers (a broker that misbehaves, never a fake of
planrunner's own code)."""

from __future__ import annotations

import httpx

from planrunner.model import Cancel, Modify
from tests.reliability.test_issue11_indoubt import (  # short_settle: autouse, a fast window
    short_settle,  # noqa: F401
    with_transport,
)
from tests.support.faults import Answering
from tests.support.rehearsal import Rehearsal, entry_plan


def _rows_twice(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    """ka10075 answered with every open row listed twice, as a paged list can when an
    order comes in between two pages (the rows shift by one)."""
    answer = inner.handle_request(request)
    answer.read()
    data = answer.json()
    data["oso"] = list(data.get("oso") or []) * 2
    keep = {k: v for k, v in answer.headers.items() if k.lower() in ("api-id", "cont-yn")}
    return httpx.Response(answer.status_code, json=data, headers=keep)


def test_issue11_an_open_order_listed_twice_is_one_order(tmp_path):
    """The open-order list repeats the plan's row: with the fills read (the order watch,
    the end of the run) it read as two open numbers for one order, "in doubt: the broker
    lists 2 open numbers for it (0000002, 0000002)", exit 2. An identical row listed
    again is the same row: the order is open, as the plan left it."""
    r = Rehearsal(tmp_path)
    with_transport(r, Answering(r.sim.transport(), "ka10075", _rows_twice))
    result = r.run(entry_plan((1, Modify(order="entry", price=69100))))
    assert len(r.sent("kt10000")) == 1 and len(r.sent("kt10002")) == 1
    (entry,) = result.orders
    assert entry.state == "open" and entry.remaining == 10, result
    assert result.exit_code == 0 and not result.attention, result


def _lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    """The broker executes the order; its answer is lost (the outcome is unknown)."""
    inner.handle_request(request).read()
    raise httpx.ReadTimeout("no answer", request=request)


def test_issue11_a_place_in_doubt_listed_twice_is_found_once(tmp_path):
    """The place's answer is lost and the open-order list repeats its row: that read as
    two candidates ("2 orders at the broker could be it (0000001, 0000001)"), the place
    in doubt and its cancel not sent (exit 2, the order left open). It is one order,
    claimed, and cancelled at its step."""
    r = Rehearsal(tmp_path)
    listing = Answering(r.sim.transport(), "ka10075", _rows_twice)
    with_transport(r, Answering(listing, "kt10000", _lost))
    result = r.run(entry_plan((2, Cancel(order="entry")), place_at=1))
    assert len(r.sent("kt10000")) == 1 and len(r.sent("kt10003")) == 1, r.messages("warning")
    assert all(o.remaining == 0 for o in r.sim.orders().values())
    assert result.exit_code == 0, result
