"""Settle requests whose outcome the journal does not know, before anything is sent.

Kiwoom has no client order id, so a resent order would be a second order. After a crash
between `intent` and `ack`, or after an `unknown` outcome, the broker's own lists decide:
open orders (ka10075) and today's orders with fills (ka10076).

- place: an order at the broker with the same symbol, side, qty and price that no
  lineage of this journal knows is ours → adopted (`ack`, reconciled). None → the POST
  never executed → `reconciled found=false`, and the job may send it.
- modify / cancel: an order whose `orig_ord_no` is the target → acked with its number.
  None: if the target is still open with something left, the request never executed;
  a cancel whose target is no longer open did its work (or the order filled).
"""

from __future__ import annotations

from dataclasses import dataclass

from planrunner.clock import Clock
from planrunner.events import RECONCILED, Emit, Event
from planrunner.journal import Journal, Record
from planrunner.kiwoom import codes
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.types import Fill, OpenOrder


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerView:
    open: tuple[OpenOrder, ...]
    all: tuple[OpenOrder | Fill, ...]

    @classmethod
    def read(cls, client: KiwoomClient, symbol: str) -> BrokerView:
        opens = tuple(client.open_orders(symbol=symbol))
        fills = tuple(client.fills(symbol=symbol))
        seen = {o.ord_no for o in opens}
        return cls(open=opens, all=opens + tuple(f for f in fills if f.ord_no not in seen))


def _int(body: dict[str, str], key: str) -> int:
    text = body.get(key, "")
    return int(text) if text.strip().isdigit() else 0


def reconcile(*, journal: Journal, client: KiwoomClient, clock: Clock, emit: Emit) -> int:
    """Settle every in-doubt request; returns how many were settled."""
    settled = 0
    claimed: set[str] = set()
    for job_id, req, rec in journal.state.in_doubt():
        intent = _intent_of(journal, job_id, req, rec)
        body: dict[str, str] = intent["body"]
        view = BrokerView.read(client, body["stk_cd"])
        known = {link.ord_no for links in journal.state.lineage.values() for link in links}
        known |= claimed
        outcome = _settle(intent, view, known)
        base = {"job": job_id, "req": req, "order": intent["order"]}
        if outcome is None:
            journal.append({"type": "reconciled", **base, "found": False}, sync=True)
            text = f"{intent['api_id']} {intent['kind']} never reached the broker: may be sent"
        else:
            ord_no, qty = outcome
            if ord_no:
                claimed.add(ord_no)
            journal.append({"type": "reconciled", **base, "found": True}, sync=True)
            journal.append(
                {
                    "type": "ack",
                    **base,
                    "kind": intent["kind"],
                    "ord_no": ord_no,
                    "base_orig_ord_no": body.get("orig_ord_no"),
                    "qty": qty,
                    "reconciled": True,
                },
                sync=True,
            )
            text = f"{intent['api_id']} {intent['kind']} reached the broker → {ord_no or '?'}"
        settled += 1
        emit(
            Event(kind=RECONCILED, at=clock.now(), message=text, job=job_id, order=intent["order"])
        )
    return settled


def _intent_of(journal: Journal, job_id: str, req: int, rec: Record) -> Record:
    if rec.get("type") == "intent":
        return rec
    for r in reversed(journal.state.records):
        if r.get("type") == "intent" and r.get("job") == job_id and int(r.get("req", 0)) == req:
            return r
    raise LookupError(f"no intent for {job_id} request {req}")


def _settle(intent: Record, view: BrokerView, known: set[str]) -> tuple[str, int] | None:
    api, body = intent["api_id"], intent["body"]
    if api in (codes.BUY, codes.SELL):
        side = "buy" if api == codes.BUY else "sell"
        qty = _int(body, "ord_qty")
        price = _int(body, "ord_uv")
        for o in sorted(view.all, key=lambda o: o.ord_no):
            if o.ord_no in known or o.orig_ord_no or o.side != side or o.qty != qty:
                continue
            if price and o.price != price:
                continue
            return o.ord_no, qty
        return None
    target = body["orig_ord_no"]
    for o in view.all:
        if o.orig_ord_no == target and o.ord_no not in known:
            return o.ord_no, o.qty
    still_open = next((o for o in view.open if o.ord_no == target and o.open_qty > 0), None)
    if still_open is not None:
        return None
    if api == codes.CANCEL:
        # The target is gone: the cancel worked, or the order filled first. What was
        # cancelled is what the target had not filled, if the broker still lists it.
        row = next((o for o in view.all if o.ord_no == target), None)
        return "", (max(row.qty - row.filled_qty, 0) if row is not None else 0)
    return None
