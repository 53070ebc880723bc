"""Settle requests whose outcome the journal does not know, before anything is sent.

Kiwoom has no client order id, so a resent order would be a second order. After a crash
between `intent` and `ack`, or after an `unknown` outcome, the broker's own lists decide:
open orders (ka10075) and today's orders with fills (ka10076).

- place: an order at the broker with the same symbol, side, qty and price that no
  lineage of this journal knows is ours → adopted (`ack`, reconciled). None → the POST
  never executed → `reconciled found=false`, and the job may send it.
- modify: an order whose `orig_ord_no` is the target → acked with its number. None
  while the target is still open → it never executed.
- cancel: the lists never show cancel records, so a cancel is settled by quantity. Its
  intent records what the target had open and filled when the cancel was decided; what
  the target has open now, less what filled since, says whether the cancel took effect
  and how much it cancelled. When the numbers fit neither story the request stays in
  doubt: the job is reported as needing attention, and nothing is resent.

A request younger than SETTLE_SECONDS may still be travelling to the broker: reconcile
waits until it is that old before reading the lists.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass

from planrunner.clock import Clock
from planrunner.engine.events import RECONCILED, WARNING, Emit, Event
from planrunner.engine.journal import Journal, Record
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


# How old a request must be before the broker's lists are trusted to show it. Loopback
# tests and benchmarks against `planrunner sim` (which answers in milliseconds) may
# shorten it with PLANRUNNER_SETTLE_SECONDS.
SETTLE_SECONDS = float(os.environ.get("PLANRUNNER_SETTLE_SECONDS", "3.0"))


class Ambiguous(Exception):
    """The broker's lists fit neither "executed" nor "not executed"."""


def reconcile(
    *,
    journal: Journal,
    client: KiwoomClient,
    clock: Clock,
    emit: Emit,
    settle: float = SETTLE_SECONDS,
    job: str | None = None,
) -> int:
    """Settle every in-doubt request it can (only `job`'s, during a run: other jobs may
    have requests in flight); returns how many were settled."""
    settled = 0
    claimed: set[str] = set()
    for job_id, req, rec in journal.state.in_doubt():
        if job is not None and job_id != job:
            continue
        intent = _intent_of(journal, job_id, req, rec)
        if not all(intent.get(k) for k in ("body", "order", "api_id", "kind")):
            # A torn intent line that does not say what it asked for: it may have been
            # sent, and nothing tells which order it was. It stays in doubt, reported.
            emit(
                Event(
                    kind=WARNING,
                    at=clock.now(),
                    job=job_id,
                    message=f"{job_id} request {req} still in doubt: its journal line was "
                    "cut off before it said what was sent; check the broker's orders",
                )
            )
            continue
        _wait_until_settled(intent, settle)
        js = journal.state.job(job_id)
        if req not in js.open_intents and req not in js.unknown_reqs:
            continue  # its answer arrived while we waited
        body: dict[str, str] = intent["body"]
        view = BrokerView.read(client, body["stk_cd"])
        known = {link.ord_no for links in journal.state.lineage.values() for link in links}
        known |= claimed
        base = {"job": job_id, "req": req, "order": intent["order"]}
        try:
            outcome = _settle(intent, view, known)
        except Ambiguous as e:
            emit(
                Event(
                    kind=WARNING,
                    at=clock.now(),
                    job=job_id,
                    order=intent["order"],
                    message=f"{intent['api_id']} {intent['kind']} still in doubt: {e}",
                )
            )
            continue
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
                    "partial": bool(intent.get("partial")),
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


def _wait_until_settled(intent: Record, settle: float) -> None:
    try:
        sent = dt.datetime.fromisoformat(intent["t"])
    except (KeyError, ValueError):
        return
    age = (dt.datetime.now(sent.tzinfo) - sent).total_seconds()
    if 0 <= age < settle:
        time.sleep(settle - age)


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
    if api == codes.CANCEL:
        return _settle_cancel(intent, view, target)
    # A modify leaves a new number behind; none means it never executed (if the target
    # filled or was cancelled meanwhile, the broker would have refused it anyway).
    return None


def _settle_cancel(intent: Record, view: BrokerView, target: str) -> tuple[str, int] | None:
    before = intent.get("remaining")
    if not isinstance(before, int):
        raise Ambiguous("the journal does not say what the target had open (old journal)")
    was_filled = int(intent.get("target_filled") or 0)
    row = next((o for o in view.all if o.ord_no == target), None)
    if row is None and was_filled:
        raise Ambiguous(f"{target} had fills but the broker no longer lists it")
    now_open = row.open_qty if row is not None else 0
    filled_since = (row.filled_qty if row is not None else 0) - was_filled
    if filled_since < 0:
        raise Ambiguous(f"{target} shows fewer fills than when the cancel was sent")
    untouched = before - filled_since  # what would be open had the cancel not executed
    asked = _int(intent["body"], "cncl_qty") or before
    if asked >= before:  # cancel all that remained
        if now_open == 0:
            return "", max(untouched, 0)
        if now_open == untouched:
            return None
    else:
        if now_open == untouched and now_open > 0:
            return None
        if now_open == max(untouched - asked, 0):
            return "", min(asked, max(untouched, 0))
    raise Ambiguous(
        f"{target} has {now_open} open; {before} were open and {filled_since} filled since"
    )
