"""Settle requests whose outcome the journal does not know, before anything is sent.

Kiwoom has no client order id, so a resent order would be a second order. After a crash
between `intent` and `ack`, or after an `unknown` outcome, the broker's own lists decide:
open orders (ka10075) and today's orders with fills (ka10076).

- place: an order is claimed only with evidence it is ours: same symbol, side, qty,
  price and order type; the broker's order time not before the intent's; a number that
  no journal in the state directory (this plan's or another's, same day and
  environment) already owns; and not one of the intent's `twins`, the identical orders
  the broker listed before the POST (execute.py reads them: an order stamped in the
  intent's own whole second cannot be told from ours by time). One candidate → adopted
  (`ack`, reconciled), unless another place still in doubt with the same fields could
  have placed it (a `Rival`: another journal's of the state directory, a plan of this
  process or another, read anew at each reconcile; or another request of this journal),
  its request not after the candidate's stamp: then in doubt, naming it, until a later
  read finds it settled (its number is then its plan's). Two or more, one whose time
  the broker does not tell or that is within CLOCK_SKEW_SECONDS before the intent, or
  one stamped in the intent's own second that the read before the POST could not have
  shown (the intent has no `twins`: an older journal, or the read failed; or it is no
  longer open and only the open orders were read) → in doubt, reported, nothing
  claimed nor resent. Only twins at the broker: in doubt, reported as such ("an
  identical order N was already open before our request; ours not seen"). None: the
  place stays in doubt, after an `unknown` outcome (the request left and no answer
  came: timeout, dropped connection, an answer not known to mean "not executed") as
  after a crash between `intent` and outcome (the POST may have left, or be on its way):
  not finding it is no proof the broker never got it (it may still be working on it),
  so it is never resent; it is reported, and adopted if a later read finds it.
- modify: claimed with the same kind of evidence as a place: a number whose `orig_ord_no`
  is the target (or, some brokers, another number of its lineage), that no journal
  owns, with the request's symbol, price and quantity (at most what the target had open
  when it was decided), stamped by the broker not before the intent → acked with its
  number. Two such, or one stamped just before or without a time → in doubt, reported.
  None → in doubt, reported, not resent: the broker may still be working on it, and a
  resend that both execute would act twice (a modify of qty is a partial cancel, and
  some brokers accept a modify of a number already modified). During a run the runner
  reads again when a later step of the order comes and at the end (runner.py).
- cancel: a broker that moves a partial cancel's rest to the cancel's own number lists
  it (claimed as a modify is, without the price); otherwise the lists never show cancel
  records, so a cancel is settled by quantity. Its
  intent records what the target had open and filled when the cancel was decided; what
  the target has open now, less what filled since, says whether the cancel took effect
  and how much it cancelled. Not taken effect (yet), or numbers that fit neither story
  → in doubt, reported, not resent: a partial cancel sent twice cancels twice.

The settle window counts from the moment the broker could last have acted on the
request: the `unknown` line (written when the client gave up, after its timeout), or
after a crash the intent plus the client's whole timeout (the request may have left just
before the crash and still be travelling). Reconcile waits until that is SETTLE_SECONDS
old before reading the lists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from planrunner.clock import SEOUL, Clock
from planrunner.engine.events import RECONCILED, WARNING, Emit, Event
from planrunner.engine.journal import Journal, Record, Replay, replay_lines
from planrunner.errors import RunError
from planrunner.kiwoom import codes
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import deciding
from planrunner.kiwoom.types import Fill, OpenOrder, ord_key, same_ord_no


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerView:
    open: tuple[OpenOrder, ...]
    all: tuple[OpenOrder | Fill, ...]

    @classmethod
    def read(cls, client: KiwoomClient, symbol: str) -> BrokerView:
        with deciding():  # these lists decide an order in flight: before price polls
            opens = tuple(client.open_orders(symbol=symbol))
            fills = tuple(client.fills(symbol=symbol))
        seen = {ord_key(o.ord_no) for o in opens}
        return cls(open=opens, all=opens + tuple(f for f in fills if ord_key(f.ord_no) not in seen))


def _int(body: dict[str, str], key: str) -> int:
    text = body.get(key, "")
    return int(text) if text.strip().isdigit() else 0


# How old a request must be before the broker's lists are trusted to show it. Only the
# test entry point (tests/support/entry.py) shortens it, for loopback tests and benches
# against `planrunner sim`, which answers in milliseconds; the product never reads it
# from the environment.
SETTLE_SECONDS = 3.0
# After a crash: how long a request may have been in flight after its intent. None: the
# client's own timeout (connect + answer), KiwoomClient.request_timeout.
IN_FLIGHT_SECONDS: float | None = None


# An order the broker stamps this little before our intent may still be ours (the two
# clocks differ): it is neither claimed nor ruled out.
CLOCK_SKEW_SECONDS = 2
DATE_UNCERTAINTY_SECONDS = 0.5  # a Date header's whole second, read as its middle
# Facts an intent records about its request that its ack carries too (execute.py).
_INTENT_FACTS = ("asked", "target", "remaining", "target_filled", "new_price", "price")
_DAY_JOURNAL = re.compile(r"\d{4}-\d{2}-\d{2}\.[^/]+\.jsonl")


class Ambiguous(Exception):
    """The broker's lists fit neither "executed" nor "not executed"."""


class StillMissing(Exception):
    """A place whose request left without an answer is not (yet) at the broker."""


class OnlyTwins(Exception):
    """The only orders at the broker that fit a place are ones listed before its POST."""

    def __init__(self, numbers: list[str]):
        self.numbers = numbers
        listed = ", ".join(numbers)
        super().__init__(
            f"an identical order {listed} was already open before our request; ours not seen"
            if len(numbers) == 1
            else f"identical orders {listed} were already open before our request; ours not seen"
        )


def identical(row: OpenOrder | Fill, api_id: str, body: dict[str, str]) -> bool:
    """Whether a row of the broker's lists has a place request's fields: an original
    order (not a modify's or cancel's number) of the same symbol, side, qty, price and
    type. What a place's reconcile can take for its own (`_settle_place`), and what
    the place journals, before its POST, as already at the broker (execute.py)."""
    side = "buy" if api_id == codes.BUY else "sell"
    if row.orig_ord_no or row.side != side or row.qty != _int(body, "ord_qty"):
        return False
    if row.price != _int(body, "ord_uv") or not _same_symbol(row.symbol, body.get("stk_cd", "")):
        return False
    return _same_type(row.order_type, str(body.get("trde_tp", "")).strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class Rival:
    """A place request whose outcome is unknown (an intent without answer, or `unknown`):
    the order it may have placed is at the broker unclaimed, under no journal's number."""

    intent: Record
    path: Path  # its journal
    own: bool = False  # another request of the reconciling journal itself

    @property
    def plan(self) -> str:
        return self.path.parent.name

    def could_have_placed(
        self, row: OpenOrder | Fill, body: dict[str, str], offset: float | None
    ) -> bool:
        """Whether `row`, which has `body`'s fields, may be this request's order: the
        same fields and venue (SOR routes to either), not an order its own read before
        the POST listed, and stamped by the broker not before the request."""
        api = str(self.intent.get("api_id", ""))
        theirs = self.intent.get("body")
        if api not in (codes.BUY, codes.SELL):
            return False
        if not isinstance(theirs, dict):
            # a place whose line was cut off before its fields: it may be any order
            if not self.intent.get("torn"):
                return False
        elif not identical(row, api, theirs) or not _same_venue(theirs, body):
            return False
        twins = _twins(self.intent)
        if twins is not None and ord_key(row.ord_no) in twins:
            return False
        stamped = _row_seconds(row.time)
        since = _broker_seconds(self.intent, offset)
        return stamped is None or since is None or since <= stamped

    def describe(self) -> str:
        job = self.intent.get("job")
        what = (
            "identical request"
            if isinstance(self.intent.get("body"), dict)
            else ("request (its journal line cut off before its fields)")
        )
        if self.own:
            return f"this plan's {what} {job} is in doubt too and may have placed it"
        return (
            f"plan {self.plan}'s {what} {job} ({self.path}) is in doubt too and may have placed it"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Foreign:
    """What the other journals of the state directory say (same day and environment):
    the order numbers they own (without padding, each with its journal), and their
    place requests still in doubt."""

    numbers: dict[str, Path]
    rivals: tuple[Rival, ...]


def _same_venue(a: dict[str, str], b: dict[str, str]) -> bool:
    va = str(a.get("dmst_stex_tp") or "KRX").strip().upper()
    vb = str(b.get("dmst_stex_tp") or "KRX").strip().upper()
    return va == vb or "SOR" in (va, vb)


def foreign(journal: Journal) -> Foreign:
    """The other journals of this state directory for the same day and environment (the
    broker numbers orders per account and day): other plans', and this plan's journals
    set aside by --fresh; none for a rehearsal (`.sim`: each had its own simulator).
    Read from disk at each call: a plan of the same process, or another process, may
    have settled a request since."""
    numbers: dict[str, Path] = {}
    rivals: list[Rival] = []
    if not _DAY_JOURNAL.fullmatch(journal.path.name):
        return Foreign(numbers=numbers, rivals=())  # not in a state directory's layout
    state_dir = journal.path.parent.parent
    stem = journal.path.name.removesuffix(".jsonl")  # <day>.<env>
    if stem.endswith(".sim"):
        # Each rehearsal (`run --sim`) had a simulator of its own: another's numbers and
        # requests in doubt are of a broker that is gone, never of this one.
        return Foreign(numbers=numbers, rivals=())
    # with the journals set aside by --fresh (<day>.<env>.<n>.jsonl): they still name
    # orders at the broker
    paths = set(state_dir.glob(f"*/{stem}.jsonl")) | set(state_dir.glob(f"*/{stem}.*.jsonl"))
    for path in sorted(paths):
        if path.resolve() == journal.path.resolve():
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for rec in _records(lines):
            if rec.get("type") in ("ack", "adopt"):
                no = rec.get("ord_no")
                if isinstance(no, str) and no:
                    numbers.setdefault(ord_key(no), path)
        rivals += (Rival(intent=r, path=path) for r in _places_in_doubt(lines))
    return Foreign(numbers=numbers, rivals=tuple(rivals))


def foreign_numbers(journal: Journal) -> dict[str, Path]:
    """Order numbers (without padding: compare with `ord_key`) the other journals of
    this state directory own, each with its journal (see `foreign`)."""
    return foreign(journal).numbers


def _records(lines: list[str]) -> list[Record]:
    out: list[Record] = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _places_in_doubt(lines: list[str]) -> list[Record]:
    """The place intents of a journal whose outcome it does not know. Replayed as a
    journal is (a torn last intent counts, in doubt); one that cannot be replayed (a
    newer format, a line being written) is read line by line: an intent without an
    `ack`, `rejected` or `reconciled` for its request."""
    try:
        state = replay_lines(lines)
    except RunError:
        found = _unanswered(lines)
    else:
        found = []
        for job, req, rec in state.in_doubt():
            with contextlib.suppress(LookupError):
                found.append(_intent_in(state, job, req, rec))
    return [r for r in found if r.get("api_id") in (codes.BUY, codes.SELL)]


def _unanswered(lines: list[str]) -> list[Record]:
    pending: dict[tuple[object, object], Record] = {}
    for rec in _records(lines):
        key = (rec.get("job"), rec.get("req"))
        if rec.get("type") == "intent":
            pending[key] = rec
        elif rec.get("type") in ("ack", "rejected", "reconciled"):
            pending.pop(key, None)
    return list(pending.values())


def reconcile(
    *,
    journal: Journal,
    client: KiwoomClient,
    clock: Clock,
    emit: Emit,
    settle: float | None = None,
    job: str | None = None,
) -> int:
    """Settle every in-doubt request it can (only `job`'s, during a run: other jobs may
    have requests in flight); returns how many were settled. `settle` defaults to
    SETTLE_SECONDS."""
    settle = SETTLE_SECONDS if settle is None else settle
    settled = 0
    claimed: set[str] = set()
    others: Foreign | None = None
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
        unknown = rec.get("type") == "unknown"
        # after a crash the request may have left just before it: the broker may act on
        # it for as long as the client would have waited for the answer
        in_flight = IN_FLIGHT_SECONDS if IN_FLIGHT_SECONDS is not None else client.request_timeout
        in_flight = 0.0 if unknown else in_flight
        _wait_until_settled(rec if unknown else intent, settle + in_flight)
        js = journal.state.job(job_id)
        if req not in js.open_intents and req not in js.unknown_reqs:
            continue  # its answer arrived while we waited
        body: dict[str, str] = intent["body"]
        view = BrokerView.read(client, body["stk_cd"])
        if others is None:
            others = foreign(journal)
        known = {ord_key(link.ord_no) for links in journal.state.lineage.values() for link in links}
        known |= {ord_key(n) for n in claimed} | set(others.numbers)
        # Another place still in doubt (another plan's, or this one's) with the same
        # fields may have placed the one candidate: it proves nothing then.
        rivals = [*others.rivals, *_own_rivals(journal, job_id, req)]
        ours = {ord_key(link.ord_no) for link in journal.state.lineage.get(intent["order"], [])}
        # What was at the broker before this order's places were sent is no child of it.
        known |= _order_twins(journal, intent["order"])
        base = {"job": job_id, "req": req, "order": intent["order"]}
        try:
            offset, took = client.broker_clock or (None, 0.0)
            outcome = _settle(intent, view, known, offset, frozenset(ours), rivals, took)
            if outcome is None:
                how = "left without an answer" if unknown else "may have left before a crash"
                raise StillMissing(
                    f"not seen at the broker, but its request {how}: it is not resent; "
                    "a later read adopts it if it appears (check the broker's order list)"
                )
        except (Ambiguous, StillMissing, OnlyTwins) as e:
            if isinstance(e, OnlyTwins):
                how = "left without an answer" if unknown else "may have left before a crash"
                e = StillMissing(
                    f"{e}; its request {how}: it is not resent, nothing is claimed; a later "
                    "read adopts it if it appears (check the broker's order list)"
                )
            _note_doubt(journal, base, str(e))
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
                # what the intent knew of its target (a cancel's check reads them)
                **{k: intent[k] for k in _INTENT_FACTS if k in intent},
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


def _own_rivals(journal: Journal, job_id: str, req: int) -> list[Rival]:
    """This journal's other place requests in doubt (never the request itself)."""
    out: list[Rival] = []
    for other, other_req, rec in journal.state.in_doubt():
        if (other, other_req) == (job_id, req):
            continue
        try:
            intent = _intent_of(journal, other, other_req, rec)
        except LookupError:
            continue
        if intent.get("api_id") in (codes.BUY, codes.SELL):
            out.append(Rival(intent=intent, path=journal.path, own=True))
    return out


def _note_doubt(journal: Journal, base: Record, why: str) -> None:
    """Journal why the request stays in doubt (the attention list says it), once per
    change: a run reads the broker again at every later step of the order."""
    for r in reversed(journal.state.records):
        if r.get("type") == "doubt" and r.get("job") == base["job"] and r.get("req") == base["req"]:
            if r.get("why") == why:
                return
            break
    journal.append({"type": "doubt", **base, "why": why})


def _order_twins(journal: Journal, order: str) -> set[str]:
    """Every number an intent of `order` listed as an identical order already at the
    broker before its POST."""
    out: set[str] = set()
    for r in journal.state.records:
        if r.get("type") == "intent" and r.get("order") == order:
            out |= _twins(r) or frozenset()
    return out


def _wait_until_settled(rec: Record, settle: float) -> None:
    """Until `rec` (the `unknown` line, or the intent after a crash) is `settle` old."""
    try:
        sent = dt.datetime.fromisoformat(rec["t"])
    except (KeyError, ValueError):
        return
    age = (dt.datetime.now(sent.tzinfo) - sent).total_seconds()
    if 0 <= age < settle:
        time.sleep(settle - age)


def _intent_of(journal: Journal, job_id: str, req: int, rec: Record) -> Record:
    return _intent_in(journal.state, job_id, req, rec)


def _intent_in(state: Replay, job_id: str, req: int, rec: Record) -> Record:
    """The intent of a request in doubt (`rec`: its intent, or its `unknown` line)."""
    if rec.get("type") == "intent":
        return rec
    for r in reversed(state.records):
        if r.get("type") == "intent" and r.get("job") == job_id and int(r.get("req", 0)) == req:
            return r
    raise LookupError(f"no intent for {job_id} request {req}")


def _settle(
    intent: Record,
    view: BrokerView,
    known: set[str],
    offset: float | None = None,
    ours: frozenset[str] = frozenset(),
    rivals: Sequence[Rival] = (),
    took: float = 0.0,
) -> tuple[str, int] | None:
    """`known`: every number the journal's lineages hold; `ours`: the intent's order's
    (all compared without zero padding); `rivals`: other place requests in doubt;
    `took`: how long the answer that told `offset` took."""
    api, body = intent["api_id"], intent["body"]
    if api in (codes.BUY, codes.SELL):
        return _settle_place(intent, view, known, offset, rivals, took)
    target = body["orig_ord_no"]
    # The new number names the target as orig_ord_no, or (some brokers) the lineage's root.
    parents = {ord_key(target)} | set(ours)
    child = _settle_child(intent, view, known, offset, parents)
    if child is not None:
        if api == codes.CANCEL:
            return child[0], _cancelled_qty(intent, view, target)
        return child
    if api == codes.CANCEL:
        return _settle_cancel(intent, view, target)
    # A modify leaves a new number behind; none means it never executed (if the target
    # filled or was cancelled meanwhile, the broker would have refused it anyway).
    return None


def _settle_child(
    intent: Record, view: BrokerView, known: set[str], offset: float | None, parents: set[str]
) -> tuple[str, int] | None:
    """The one new number at the broker that can only be this modify's or cancel's: it
    descends from the order (`parents`), no journal owns it, its fields are the request's
    (symbol; a modify's price and quantity) and the broker stamped it after the intent.
    None if there is none; Ambiguous if more than one could be it, or one stamped just
    before the request (the clocks differ) or without a time."""
    body = intent["body"]
    modify = intent["api_id"] == codes.MODIFY
    price = _int(body, "mdfy_uv")
    asked = _int(body, "mdfy_qty" if modify else "cncl_qty")
    before = intent.get("remaining")
    since = _broker_seconds(intent, offset)
    ours: list[tuple[str, int]] = []
    maybe: list[str] = []
    for o in sorted(view.all, key=lambda o: o.ord_no):
        if ord_key(o.orig_ord_no) not in parents or ord_key(o.ord_no) in known:
            continue
        if not _same_symbol(o.symbol, body.get("stk_cd", "")):
            continue
        if modify and price and o.price and o.price != price:
            continue
        if modify and asked and o.qty != asked:
            continue
        if isinstance(before, int) and before and o.qty > before:
            continue  # more than the order had open when the request was decided
        stamped = _row_seconds(o.time)
        if stamped is None or since is None:
            maybe.append(f"{o.ord_no} (time not told)")
        elif stamped >= since:
            ours.append((o.ord_no, o.qty))
        elif stamped >= since - CLOCK_SKEW_SECONDS:
            maybe.append(f"{o.ord_no} (at {o.time}, just before the request)")
        # else: at the broker before we asked: someone else's modify or cancel
    if len(ours) == 1 and not maybe:
        return ours[0]
    found = [no for no, _ in ours] + maybe
    if len(found) > 1:
        raise Ambiguous(f"{len(found)} new numbers at the broker could be it ({', '.join(found)})")
    if found:
        raise Ambiguous(f"{found[0]} could be it, but nothing proves it is ours")
    return None


def _cancelled_qty(intent: Record, view: BrokerView, target: str) -> int:
    """What a cancel found by its own number took: the quantity asked (a partial cancel),
    else what the lists say the target had left (all that remained)."""
    asked = _int(intent["body"], "cncl_qty")
    before = intent.get("remaining")
    if asked and (not isinstance(before, int) or asked < before):
        return asked
    try:
        settled = _settle_cancel(intent, view, target)
    except Ambiguous:
        settled = None
    if settled is not None:
        return settled[1]
    return before if isinstance(before, int) else 0


def _settle_place(
    intent: Record,
    view: BrokerView,
    known: set[str],
    offset: float | None,
    rivals: Sequence[Rival] = (),
    took: float = 0.0,
) -> tuple[str, int] | None:
    """The one order at the broker that can only be this place's; None if there is none.
    `offset`: how far the broker's clock is ahead of ours (its `Date` header), if known;
    `took`: how long that answer took (the broker's clock may be that much further ahead).
    `rivals`: other identical places in doubt; an order one of them may have placed is
    no proof. Raises OnlyTwins when the only orders that fit were listed before the POST."""
    body = intent["body"]
    qty = _int(body, "ord_qty")
    since = _broker_seconds(intent, offset)
    twins = _twins(intent)
    # An order that is not open now was listed before the POST only if the fills were
    # read too (a type that fills on arrival): a limit twin that filled before the read
    # is in no list.
    closed_read = intent.get("twins_read") == "open+fills"
    from_feed = intent.get("twins_from") == "feed"
    open_now = {ord_key(o.ord_no) for o in view.open}
    # Without a list read before the POST that would show it, an order stamped in the
    # intent's own second may have been there before it: the broker's HHmmss has no
    # fraction and its clock is known to half a second.
    latest = _broker_seconds(intent, offset, latest=True, took=took)
    ours: list[str] = []
    maybe: list[str] = []
    listed: list[str] = []
    for o in sorted(view.all, key=lambda o: o.ord_no):
        if not identical(o, intent["api_id"], body):
            continue
        if twins is not None and ord_key(o.ord_no) in twins:
            listed.append(o.ord_no)  # at the broker before we asked: never ours
            continue
        if ord_key(o.ord_no) in known:
            continue
        stamped = _row_seconds(o.time)
        # Twins from the live feed (standing.py) list an order accepted just before the
        # POST only once its `00` push arrived, and a push can be late without a sign:
        # they cover no order stamped in the intent's own second.
        covered = (
            twins is not None and not from_feed and (closed_read or ord_key(o.ord_no) in open_now)
        )
        rival = next((r for r in rivals if r.could_have_placed(o, body, offset)), None)
        early = stamped is not None and since is not None and stamped < since - CLOCK_SKEW_SECONDS
        if rival is not None and not early:
            maybe.append(
                f"{o.ord_no} (placed {o.time or 'at a time not told'}; {rival.describe()})"
            )
        elif stamped is None or since is None:
            maybe.append(f"{o.ord_no} (time not told)")
        elif not covered and latest is not None and since <= stamped <= latest:
            why = (
                "the live feed may not have told of it yet when we sent ours"
                if from_feed and twins is not None
                else "nothing read before it says whether it was already there"
            )
            maybe.append(
                f"{o.ord_no} (placed {o.time}, in the same second as our request, and {why})"
            )
        elif stamped >= since:
            ours.append(o.ord_no)
        elif stamped >= since - CLOCK_SKEW_SECONDS:
            maybe.append(f"{o.ord_no} (placed {o.time}, just before the request)")
        # else: at the broker before we asked; someone else's order
    if len(ours) == 1 and not maybe:
        return ours[0], qty
    found = [*ours, *maybe]
    if len(found) > 1:
        raise Ambiguous(f"{len(found)} orders at the broker could be it ({', '.join(found)})")
    if found:
        raise Ambiguous(f"{found[0]} could be it, but nothing proves it is ours")
    if listed:
        raise OnlyTwins(listed)
    return None


def _twins(intent: Record) -> frozenset[str] | None:
    """The numbers (without padding) of the identical orders the broker listed before
    the place's POST; None when the intent does not say (an older journal, or the read
    failed)."""
    listed = intent.get("twins")
    if not isinstance(listed, list):
        return None
    return frozenset(ord_key(str(n)) for n in listed)


def _broker_seconds(
    intent: Record, offset: float | None, *, latest: bool = False, took: float = 0.0
) -> int | None:
    """The intent's time as a second of the day on the broker's clock, as its lists are
    (None if unknown). The offset read from a whole-second `Date` is known to half a
    second, so the earliest the broker's clock can have read when the intent was written
    is half a second before the estimate (else our own order, stamped in the same
    second, looks older than its request); `latest`: the latest it can have read, also
    `took` later (the answer that told the offset was dated somewhere in its round trip,
    and one slow on its way makes the broker's clock look behind); without an offset,
    the allowed skew later."""
    sent = _intent_time(intent)
    if sent is not None and offset is not None:
        sign = 1 if latest else -1
        sent += dt.timedelta(seconds=offset + sign * DATE_UNCERTAINTY_SECONDS)
        if latest:
            sent += dt.timedelta(seconds=took)
    elif sent is not None and latest:
        # No `Date` told the broker's clock: it may be the allowed skew ahead of ours, as
        # an order stamped up to that much before the request may be (`early`).
        sent += dt.timedelta(seconds=CLOCK_SKEW_SECONDS)
    return _seconds_of_day(sent)


def _intent_time(intent: Record) -> dt.datetime | None:
    """When the request could first have reached the broker, on the plan's clock (the
    client's clock; `broker_offset` turns it into the broker's), else the journal's
    wall clock (an old journal)."""
    for key in ("at", "t"):
        try:
            return dt.datetime.fromisoformat(str(intent[key]))
        except (KeyError, ValueError):
            continue
    return None


def _seconds_of_day(when: dt.datetime | None) -> int | None:
    if when is None or when.tzinfo is None:
        return None
    local = when.astimezone(SEOUL)
    return local.hour * 3600 + local.minute * 60 + local.second


def _row_seconds(text: str) -> int | None:
    """`093005` or `09:30:05` (the broker's HHmmss, Korea time) → seconds of the day."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) != 6:
        return None
    h, m, s = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def _same_symbol(listed: str, sent: str) -> bool:
    """`A005930` and `005930_NX` are 005930; an empty listed symbol says nothing."""
    if not listed:
        return True
    return listed.strip().removeprefix("A").split("_")[0] == sent.strip()


def _same_type(listed: str, trde_tp: str) -> bool:
    """The list writes the type as a name (보통, 시장가…); an empty one says nothing."""
    text = "".join(listed.split())
    if not text or not trde_tp:
        return True
    return text in (trde_tp, codes.TRDE_TP_NAME.get(trde_tp, trde_tp))


def _settle_cancel(intent: Record, view: BrokerView, target: str) -> tuple[str, int] | None:
    before = intent.get("remaining")
    if not isinstance(before, int):
        raise Ambiguous("the journal does not say what the target had open (old journal)")
    was_filled = int(intent.get("target_filled") or 0)
    row = next((o for o in view.all if same_ord_no(o.ord_no, target)), None)
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
