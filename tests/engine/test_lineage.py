import re

from planrunner.model import Cancel, Market, Modify, Place
from tests.support.rehearsal import Rehearsal, at, entry_plan, job, plan, spec

ORDERS = ("kt10000", "kt10001", "kt10002", "kt10003")


def test_each_modify_and_cancel_targets_the_newest_number(tmp_path):
    r = Rehearsal(tmp_path)
    result = r.run(
        entry_plan(
            (1, Modify(order="entry", price=69100)),
            (2, Modify(order="entry", ticks=1)),
            (3, Cancel(order="entry")),
        )
    )
    assert result.exit_code == 0, result.attention
    sent = r.sent(*ORDERS)
    assert [b.get("mdfy_uv") for b in sent] == [None, "69100", "69200", None]
    book = r.sim.orders()
    first = next(no for no, o in book.items() if o.kind == "order")
    m1 = next(no for no, o in book.items() if o.orig_ord_no == first)
    m2 = next(no for no, o in book.items() if o.orig_ord_no == m1)
    assert [b.get("orig_ord_no") for b in sent[1:]] == [first, m1, m2]
    assert book[m2].state == "cancelled"
    [summary] = result.orders
    assert summary.lineage[0] == first and summary.state == "cancelled"
    assert "(modify 09:01)" in summary.lineage[1]


def test_market_places_exactly_the_confirmed_remainder_after_a_partial_fill(tmp_path):
    scenario = """
symbols:
  "005930": {price: 70000, walk: false, path: [["09:01", 69000]], fill: {mode: partial, max_qty: 3}}
"""
    r = Rehearsal(tmp_path, scenario=scenario)
    result = r.run(
        entry_plan(
            (2, Market(order="entry")),
        )
    )
    assert result.exit_code == 0, result.attention
    cancel = r.sent("kt10003")
    market = [b for b in r.sent("kt10000") if b["trde_tp"] == "3"]
    assert cancel[0]["cncl_qty"] == "0"
    assert len(market) == 1
    filled_before = 10 - int(market[0]["ord_qty"])
    assert filled_before == 3  # one crossing filled 3 of 10; 7 were cancelled and sent at market
    assert market[0]["ord_uv"] == ""


def test_steps_after_a_full_fill_are_skipped_and_nothing_is_sent(tmp_path):
    scenario = """
symbols:
  "005930": {price: 70000, walk: false, path: [["09:01", 68900]]}
"""
    r = Rehearsal(tmp_path, scenario=scenario)
    result = r.run(
        entry_plan(
            (2, Modify(order="entry", price=69100)),
            (3, Cancel(order="entry")),
        )
    )
    assert result.exit_code == 0
    assert r.sent("kt10002", "kt10003") == []
    assert result.jobs["steps[0]"] == "skipped (filled)"
    assert result.jobs["steps[1]"] == "skipped (filled)"
    assert result.orders[0].state == "filled"


def test_a_job_past_its_grace_is_reported_late_and_not_sent(tmp_path):
    r = Rehearsal(tmp_path, start=at(10))
    entry = spec(price=69000)
    result = r.run(
        plan(
            [entry],
            [
                job("entry.place", 0, Place(spec=entry)),
                job("steps[0]", 11, Cancel(order="entry")),
            ],
        )
    )
    # 600 s late, plus however long the set-up took on the compressed clock
    assert re.fullmatch(r"skipped \(late by 6\d\ds\)", result.jobs["entry.place"])
    assert any(re.search(r"entry.place: skipped \(late by 6\d\ds\)", a) for a in result.attention)
    assert r.sent(*ORDERS) == []
    assert result.jobs["steps[0]"] == "skipped (never placed)"
