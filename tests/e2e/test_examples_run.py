"""Every example plan, rehearsed on the embedded simulator with its scenario.

The truth is the simulator's own request log and order book, never our journal.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.launch import RunOptions, run_plan
from planrunner.app.targets import Target
from planrunner.engine.journal import replay
from planrunner.krx import instruments, ticks
from planrunner.model import trigger_job
from planrunner.plan.compile import compile_plan
from planrunner.plan.rules import load_plan, parse_offset
from planrunner.sim.behaviour import Behaviour
from tests.support.readings import readings

ROOT = Path(__file__).resolve().parents[2]
PLANS = sorted((ROOT / "plans").glob("*.yaml"))
ORDER_APIS = ("kt10000", "kt10001", "kt10002", "kt10003")


def _switch(target: Any, behaviour: Behaviour | None) -> None:
    if behaviour is not None:
        target.simulator.set_behaviour(behaviour)


class Rehearsal:
    def __init__(
        self,
        plan: Path,
        tmp: Path,
        speed: float = 4000,
        behaviour: Behaviour | None = None,
        scenario: Path | None = None,
    ):
        self.events: list[Any] = []
        self.behaviour = behaviour or Behaviour()
        keep: dict[str, Target] = {}

        def on_target(target: Target) -> None:
            keep["target"] = target
            _switch(target, behaviour)

        opts = RunOptions(
            state_dir=tmp,
            scenario=scenario or ROOT / "plans" / "scenarios" / plan.name,
            speed=speed,
        )
        self.result = run_plan(
            plan,
            opts,
            emit=self.events.append,
            stop=threading.Event(),
            on_target=on_target,
        )
        sim = keep["target"].simulator
        assert sim is not None
        self.sim = sim
        self.plan = plan
        [self.journal] = sorted(tmp.rglob("*.jsonl"))

    def sent(self, *api_ids: str) -> list[dict[str, str]]:
        """Order request bodies, numbers in the simulator's 7-digit form (any padding)."""
        return [
            _padded(e.body)
            for e in self.sim.log_snapshot()
            if e.api_id in (api_ids or ORDER_APIS) and e.committed
        ]

    def book(self) -> dict[str, Any]:
        return self.sim.orders()

    def filled(self, symbol: str) -> int:
        return sum(o.filled for o in self.book().values() if o.symbol == symbol)

    def open_orders(self) -> list[Any]:
        return [o for o in self.book().values() if o.remaining > 0]


def _padded(body: dict[str, str]) -> dict[str, str]:
    if body.get("orig_ord_no", "").isdigit():
        return body | {"orig_ord_no": f"{int(body['orig_ord_no']):07d}"}
    return body


def test_every_example_has_a_scenario():
    missing = [p.name for p in PLANS if not (ROOT / "plans" / "scenarios" / p.name).exists()]
    assert missing == []


def _open_ladder(r: Rehearsal) -> None:
    modifies = r.sent("kt10002")
    assert [b["mdfy_uv"] for b in modifies] == [str(p) for p in range(70100, 70800, 100)]
    assert all(b["mdfy_qty"] == "0" for b in modifies)
    numbers = [b["orig_ord_no"] for b in modifies]
    assert len(set(numbers)) == len(numbers)  # each modify names a new number
    [cancel] = r.sent("kt10003")
    assert cancel["cncl_qty"] == "0" and cancel["orig_ord_no"] not in numbers
    assert r.filled("005930") == 4 and r.open_orders() == []


def _emergency_close(r: Rehearsal) -> None:
    [cancel] = r.sent("kt10003")
    assert cancel["cncl_qty"] == "0"
    market = [b for b in r.sent("kt10001") if b["trde_tp"] == "3"]
    assert [b["ord_qty"] for b in market] == ["14"]  # 6 filled before: only 14 remain
    assert r.filled("000660") == 20 and r.open_orders() == []
    assert r.result.jobs["exit.market@15:15"].startswith("skipped")


def _add_to_position(r: Rehearsal) -> None:
    places = r.sent("kt10000")
    assert [(b["ord_qty"], b["ord_uv"]) for b in places] == [("10", "69500"), ("16", "69600")]
    assert [b["cncl_qty"] for b in r.sent("kt10003")] == ["0", "8", "0"]
    assert r.filled("005930") == 8 and r.open_orders() == []


def _adopt_order(r: Rehearsal) -> None:
    modifies = r.sent("kt10002")
    assert modifies[0]["orig_ord_no"] == "0000139"
    assert [b["mdfy_uv"] for b in modifies] == ["202000", "201500", "201000", "200500", "200000"]
    assert r.sent("kt10003") == []
    assert r.filled("000660") == 5


def _sor_sell(r: Rehearsal) -> None:
    places = r.sent("kt10001")
    assert sorted(b["dmst_stex_tp"] for b in places) == ["NXT", "SOR"]
    [cancel] = r.sent("kt10003")
    guard = next(o for o in r.book().values() if o.order_type == "stop_limit" and o.kind == "order")
    assert cancel["orig_ord_no"] == guard.ord_no
    assert r.filled("005930") == 30 and r.open_orders() == []


def _quick_relative(r: Rehearsal) -> None:
    bodies = r.sent()
    assert [b.get("mdfy_uv") or b.get("cncl_qty") or b.get("ord_qty") for b in bodies] == [
        "10",
        "70100",
        "4",
        "70000",
        "0",
    ]
    if r.behaviour.remainder == "original":
        assert bodies[3]["orig_ord_no"] == bodies[2]["orig_ord_no"]  # a partial cancel keeps it
    assert r.filled("005930") == 0 and r.open_orders() == []
    steps = ["probe.modify@+4s", "probe.modify@+6s", "probe.modify@+8s", "probe.cancel@+10s"]
    assert r.result.jobs == dict.fromkeys(steps, "done") | {"probe.place": "done"}


def _take_profit(r: Rehearsal) -> None:
    [buy] = r.sent("kt10000")
    [sell] = r.sent("kt10001")
    # 10 filled at 70,000: the take-profit is 10 at 70,000 x 1.03 = 72,100 (a sell: up).
    assert (buy["ord_qty"], buy["ord_uv"]) == ("10", "70000")
    assert (sell["ord_qty"], sell["ord_uv"], sell["trde_tp"]) == ("10", "72100", "0")
    assert r.sent("kt10003") == []  # both cancels found their order filled: nothing sent
    book = r.book()
    tp = next(o for o in book.values() if o.side == "sell")
    assert (tp.filled, tp.remaining, tp.price) == (10, 0, 72100)
    assert r.filled("005930") == 20 and r.open_orders() == []
    assert r.result.jobs["entry.cancel@09:45"].startswith("skipped (filled")
    assert r.result.jobs["tp.cancel@12:00"].startswith("skipped (filled")


def _trailing_stop(r: Rehearsal) -> None:
    # The level followed the high (2% below, rounded up) and was journaled at each move.
    # (A poll may miss the short step at 71,000: then 69,600 is never a level.)
    levels = [x["level"] for x in replay(r.journal).records if x.get("type") == "trail"]
    assert levels == sorted(set(levels)) and levels[-1] == 70600
    assert set(levels) <= {68600, 69600, 70600}
    [offer] = [b for b in r.sent("kt10001") if b["trde_tp"] == "0"]
    [cancel] = r.sent("kt10003")
    [market] = [b for b in r.sent("kt10001") if b["trde_tp"] == "3"]
    assert offer["ord_uv"] == "75000" and cancel["cncl_qty"] == "0"
    assert market["ord_qty"] == "10"  # fired at 70,500 (below 70,600), not at 71,000
    assert r.filled("005930") == 10 and r.open_orders() == []
    assert r.result.jobs["exit.cancel@11:00"].startswith("skipped")


def _oco_exit(r: Rehearsal) -> None:
    book = r.book()
    tp = next(o for o in book.values() if o.kind == "order" and o.order_type == "limit")
    sl = next(o for o in book.values() if o.kind == "order" and o.order_type == "stop_limit")
    assert (tp.filled, tp.remaining) == (10, 0)
    assert (sl.filled, sl.remaining) == (0, 0) and r.open_orders() == []
    # Every request after the two placements is an oco resize of sl, each decided by a
    # larger tp fill: partial cancels of what tp's fills took, then the cancel of the rest.
    state = replay(r.journal)
    resizes = [
        x for x in state.records if x.get("type") == "intent" and x["job"].startswith("oco:")
    ]
    fills = [int(x["job"].rsplit("@", 1)[1]) for x in resizes]
    assert fills == sorted(set(fills)) and fills[-1] == 10  # none sent twice
    cancels = r.sent("kt10003")
    assert len(cancels) == len(resizes) and cancels[-1]["cncl_qty"] == "0"
    partial = cancels[:-1]  # each brought sl down to 10 less tp's fills then
    assert sum(int(b["cncl_qty"]) for b in partial) == (fills[-2] if partial else 0)
    assert all(x["order"] == "sl" for x in resizes)
    assert r.result.jobs["tp.cancel@12:00"].startswith("skipped (filled")


def _ladder_times(r: Rehearsal) -> None:
    """`times: 4`: four rungs one tick apart, then the sale on the last one."""
    modifies = r.sent("kt10002")
    assert [b["mdfy_uv"] for b in modifies] == ["70700", "70600", "70500", "70400"]
    assert r.sent("kt10003") == []  # everything sold at 70,400 before the 10:00 cancel
    assert r.filled("005930") == 8 and r.open_orders() == []
    assert r.result.jobs["exit.cancel@10:00"].startswith("skipped")


def _sliced_buy(r: Rehearsal) -> None:
    """`slices: 4`: four orders of 10, each raised and cancelled under its own number."""
    places = r.sent("kt10000")
    assert [(b["ord_qty"], b["ord_uv"]) for b in places] == [("10", "70000")] * 4
    modifies = r.sent("kt10002")
    assert [b["mdfy_uv"] for b in modifies] == ["70100"] * 4
    assert len({b["orig_ord_no"] for b in modifies}) == 4  # one per slice
    cancels = r.sent("kt10003")
    assert [b["cncl_qty"] for b in cancels] == ["0"] * 4
    assert len({b["orig_ord_no"] for b in cancels}) == 4
    per_lineage: Counter[str] = Counter()
    for o in r.book().values():
        per_lineage[o.base_ord_no] += o.filled
    assert sorted(per_lineage.values()) == [3, 3, 3, 3]  # 3 of each slice
    assert r.filled("005930") == 12 and r.open_orders() == []
    assert sorted(o.order for o in r.result.orders) == ["big-1", "big-2", "big-3", "big-4"]


def _late_start(r: Rehearsal) -> None:
    """The clock starts at 09:10: the place and the modify go out late, once, in order."""
    [place] = r.sent("kt10000")
    assert (place["ord_qty"], place["ord_uv"]) == ("10", "70000")
    [modify] = r.sent("kt10002")
    assert modify["mdfy_uv"] == "70100"
    [cancel] = r.sent("kt10003")
    assert cancel["cncl_qty"] == "0"
    assert r.filled("005930") == 4 and r.open_orders() == []
    assert r.result.jobs == {
        "entry.place": "done (sent 9m55s late: on_late place)",
        "entry.modify@09:05": "done (sent 5m late: on_late place)",
        "entry.cancel@09:40": "done",
    }
    late = [x for x in replay(r.journal).records if x.get("type") == "late"]
    assert [(x["job"], x["late"], x["window"]) for x in late] == [
        ("entry.place", "9m55s", "15m"),
        ("entry.modify@09:05", "5m", "15m"),
    ]


CHECKS = {
    "open-ladder.yaml": _open_ladder,
    "emergency-close.yaml": _emergency_close,
    "add-to-position.yaml": _add_to_position,
    "adopt-order.yaml": _adopt_order,
    "sor-sell.yaml": _sor_sell,
    "quick-relative.yaml": _quick_relative,
    "take-profit.yaml": _take_profit,
    "trailing-stop.yaml": _trailing_stop,
    "oco-exit.yaml": _oco_exit,
    "ladder-times.yaml": _ladder_times,
    "sliced-buy.yaml": _sliced_buy,
    "late-start.yaml": _late_start,
}


_NUMBER = re.compile(r"^<([\w-]+)@(\d+)>$")
_REPLACE_QTY = re.compile(r"^<(\d+) - filled>$")
_RESIZE = re.compile(r"^<[\w-]+ open over what [\w-]+ left>$")
_TICKS = re.compile(r"^<[\w-]+ price ([+-]\d+) ticks?>$")
_FILLED = re.compile(r"^<([\w-]+) filled>$")
_FILL_PRICE = re.compile(r"^<([\w-]+) fill ([+-][0-9.]+%|[+-]\d+ ticks?) (up|down)>$")


def _show_matches_run(r: Rehearsal) -> int:
    """Each request the run sent equals `show`'s prediction for it (the plan compiled for
    the run's day and start and the simulator's broker behaviour, as `show --broker`
    does), its placeholders resolved from the journal and the simulator's book; and the
    journal's requests are the simulator's. Returns how many requests were compared."""
    state = replay(r.journal)
    assert state.run_start is not None
    compiled = compile_plan(
        load_plan(r.plan),
        day=state.run_start.date(),
        run_start=state.run_start,
        remainder=r.behaviour.remainder,
        padding=r.behaviour.padding,
    )
    predicted = {j.id: j.requests for j in compiled.jobs}
    predicted |= {trigger_job(t.id): t.requests for t in compiled.triggers}
    # An oco resize is `oco:GROUP:LEG@FILLED`: one prediction per leg.
    resizes = {f"oco:{g.id}:{leg}": reqs for g in compiled.oco for leg, reqs in g.requests.items()}
    intents = [x for x in state.records if x.get("type") == "intent"]
    acks = {(x["job"], int(x.get("req", 0))): x for x in state.records if x.get("type") == "ack"}
    # The number each order's N-th request returned (1-based, every request counts).
    returned: dict[str, list[str]] = {}
    for x in intents:
        ack = acks.get((x["job"], int(x.get("req", 0))))
        returned.setdefault(x["order"], []).append(ack["ord_no"] if ack else "")
    book = r.book()
    lineage = {o: {int(link.ord_no) for link in links} for o, links in state.lineage.items()}

    def fills_of(order: str) -> tuple[int, int]:
        """(filled, value) of an order's lineage in the simulator's book."""
        mine = [o for no, o in book.items() if int(no) in lineage[order]]
        return (
            sum(o.filled for o in mine),
            sum(f.qty * f.price for o in mine for f in o.fills),
        )

    holders = _holders(state.records, acks, r.behaviour)
    compared = 0
    for x in intents:
        job, req = x["job"], int(x.get("req", 0))
        # The runner numbers a step's requests 0 (cancel) and 1 (modify / new order).
        reqs = predicted[job] if job in predicted else resizes[job.rsplit("@", 1)[0]]
        want = reqs[req if len(reqs) == 2 else 0].body
        got = x["body"]
        assert want.keys() == got.keys(), (job, want, got)
        for key, p in want.items():
            a = got[key]
            if p == a:
                continue  # a price, a qty, an adopted number as the broker writes it
            m = _NUMBER.match(p)
            q = _REPLACE_QTY.match(p)
            if m:  # exactly the number that request returned, as the broker wrote it
                number = returned[m.group(1)][int(m.group(2)) - 1]
                assert a == number, (job, key, p, a)
            elif p == f"<{x['order']}>":
                # A trigger's request: exactly the number that held the order then, as the
                # broker wrote it.
                assert a == holders[(job, req)], (job, key, p, a, holders[(job, req)])
            elif mt := _TICKS.match(p):
                # N ticks from the price the order held at the broker then (an adopted
                # order's, or one placed from a fill), on the order's grid.
                held = book[f"{int(holders[(job, req)]):07d}"]
                kind = instruments.order_kind(compiled.orders[x["order"]])
                want_price = ticks.step(held.price or 0, int(mt.group(1)), kind)
                assert int(a) == want_price, (job, key, p, a, want_price)
            elif mf := _FILLED.match(p):
                assert int(a) == fills_of(mf.group(1))[0], (job, key, p, a)
            elif mp := _FILL_PRICE.match(p):
                filled, value = fills_of(mp.group(1))
                o = parse_offset(mp.group(2))
                price = ticks.offset_price(
                    Fraction(value, filled),
                    percent=o.percent,
                    ticks=o.ticks,
                    up=mp.group(3) == "up",
                )
                assert int(a) == price, (job, key, p, a)
            elif _RESIZE.match(p):
                # oco:GROUP:LEG@F brings the leg to its size less the other's F filled: it
                # cancels F less what the leg's earlier partial cancels took, or all ("0")
                # once F is the leg's whole size.
                before = intents[: intents.index(x)]
                mine = [y for y in before if y["order"] == x["order"]]
                size = int(next(y for y in mine if "ord_qty" in y["body"])["body"]["ord_qty"])
                earlier = sum(int(y["body"]["cncl_qty"]) for y in mine if y["api_id"] == "kt10003")
                level = int(job.rsplit("@", 1)[1])
                want_qty = 0 if level >= size else level - earlier
                assert int(a) == want_qty, (job, key, p, a, want_qty)
            elif p == "<confirmed qty>":
                # The market order after a cancel of all: exactly what that cancel took.
                cancel = book[f"{int(acks[(job, 0)]['ord_no']):07d}"]
                assert cancel.kind == "cancel" and int(a) == cancel.qty > 0, (job, key, a, cancel)
            elif q:
                new = int(acks[(job, req)]["ord_no"])
                filled = sum(
                    o.filled
                    for no, o in book.items()
                    if int(no) in lineage[x["order"]] and int(no) < new
                )
                assert int(a) == int(q.group(1)) - filled, (job, key, p, a, filled)
            else:
                raise AssertionError(f"{job} request {req}: {key} {a!r}, show said {p!r}")
        compared += 1
    # The journal's requests are what the simulator received (plus the placement that
    # recreates each adopted order in the fresh simulator before the run).
    sent = Counter(json_key(b) for b in r.sent())
    journaled = Counter(json_key(_padded(x["body"])) for x in intents)
    assert journaled <= sent
    adopted = sum(1 for o in compiled.orders.values() if o.adopt)
    assert sent.total() - journaled.total() == adopted
    return compared


def _holders(
    records: list[dict[str, Any]], acks: dict[tuple[str, int], dict[str, Any]], b: Behaviour
) -> dict[tuple[str, int], str]:
    """For each request (job, req): the number that held its order's open quantity when it
    was sent, as the broker wrote it, by the broker's rules rather than the journal's
    lineage: an adoption, a placement and a modify of all (the runner sends no other) move
    it to their number; a partial cancel moves it to the cancel's own number only when the
    broker lists the rest there (remainder=cancel); a cancel of all leaves nothing open."""
    held: dict[str, str] = {}
    out: dict[tuple[str, int], str] = {}
    for x in records:
        if x.get("type") == "adopt":
            held[x["order"]] = x["ord_no"]
        if x.get("type") != "intent":
            continue
        key = (x["job"], int(x.get("req", 0)))
        out[key] = held.get(x["order"], "")
        ack, body = acks.get(key), x["body"]
        if ack is None:
            continue
        if x["api_id"] == "kt10002":
            assert body["mdfy_qty"] == "0", body  # a qty change is sent as a partial cancel
        partial = x["api_id"] == "kt10003" and body["cncl_qty"] != "0"
        if x["api_id"] != "kt10003" or (partial and b.remainder == "cancel"):
            held[x["order"]] = ack["ord_no"]
    return out


def json_key(body: dict[str, str]) -> str:
    return repr(sorted(body.items()))


@pytest.mark.parametrize("plan", PLANS, ids=[p.stem for p in PLANS])
def test_example_plan_reaches_its_intended_broker_state_as_show_predicted(plan, tmp_path):
    """One rehearsal of each example: the broker ends as the plan meant, and every
    request it sent is one `show` listed (issue 12 item 3), body for body."""
    assert plan.name in CHECKS, f"add a check for {plan.name}"
    r = Rehearsal(plan, tmp_path)
    assert r.result.exit_code == 0, r.result.attention
    CHECKS[plan.name](r)
    assert _show_matches_run(r) >= 2


@pytest.mark.parametrize("behaviour", readings(defaults=False))
@pytest.mark.parametrize("plan", PLANS, ids=[p.stem for p in PLANS])
def test_issue12_acceptance2_examples_under_each_broker_behaviour(plan, behaviour, tmp_path):
    r = Rehearsal(plan, tmp_path, behaviour=behaviour)
    assert r.result.exit_code == 0, r.result.attention
    CHECKS[plan.name](r)
    _show_matches_run(r)
    book = r.book()
    for summary in r.result.orders:
        # The summary's figures are the broker's: its open and filled per lineage.
        numbers = {int(x.split()[0]) for x in summary.lineage if x.split()[0].isdigit()}
        mine = [
            o
            for o in book.values()
            if int(o.ord_no) in numbers or (o.orig_ord_no and int(o.orig_ord_no) in numbers)
        ]
        assert summary.remaining == sum(o.remaining for o in mine), summary
