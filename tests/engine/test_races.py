"""`market`, cancel and the guide's cautions under the races that make automation unsafe.

Assertions come from the simulator's request log and book: no order is ever larger than
the remainder the broker confirmed, nothing is placed after a full fill, and every
skipped action says why.
"""

from __future__ import annotations

from planrunner.engine.events import RunResult
from planrunner.model import Cancel, Market, Modify, OrderSpec, Place, Policy
from tests.support.rehearsal import Rehearsal, at, entry_plan, job, plan, spec

HYNIX = """
symbols:
  "000660":
    base: 202000
    walk: false
    path: [["09:00", 203000], ["09:02:10", 205000], ["09:02:30", 203000]]
    fill: FILL
"""


def _sell() -> OrderSpec:
    return spec("exit", symbol="000660", side="sell", qty=20, price=205000)


def _market_with_slow_cancel(tmp_path, fill: str) -> tuple[Rehearsal, RunResult]:
    r = Rehearsal(tmp_path, scenario=HYNIX.replace("FILL", fill))
    # The cancel spends 20 s on the rehearsal clock in flight: the 09:02:10 price point
    # arrives while it travels, so the broker fills before it cancels.
    r.sim.faults.add("latency:api=kt10003,ms=100")
    exit_ = _sell()
    result = r.run(
        plan(
            [exit_],
            [job("exit.place", 0.1, Place(spec=exit_)), job("steps[0]", 2, Market(order="exit"))],
        )
    )
    return r, result


def test_fill_while_the_cancel_is_in_flight_sends_only_the_confirmed_remainder(tmp_path):
    r, result = _market_with_slow_cancel(tmp_path, "{mode: partial, max_qty: 6}")
    assert result.exit_code == 0, result.attention
    [cancel] = [o for o in r.sim.orders().values() if o.kind == "cancel"]
    market = [b for b in r.sent("kt10001") if b["trde_tp"] == "3"]
    assert cancel.qty == 14  # 6 of 20 filled in flight: the broker cancelled 14
    assert [b["ord_qty"] for b in market] == ["14"]
    assert sum(o.filled for o in r.sim.orders().values()) == 20


def test_a_cancel_refused_because_the_order_filled_places_nothing_at_market(tmp_path):
    r, result = _market_with_slow_cancel(tmp_path, "full")
    assert [b["trde_tp"] for b in r.sent("kt10001")] == ["0"]  # only the original order
    refused = [e for e in r.sim.log_snapshot() if e.api_id == "kt10003"]
    assert len(refused) == 1 and refused[0].return_code != 0 and not refused[0].committed
    assert result.jobs["steps[0]"] == (
        "skipped (filled before the cancel: nothing left to send at market)"
    )
    assert result.exit_code == 0


def test_market_after_the_close_cancels_nothing(tmp_path):
    r = Rehearsal(tmp_path, start=at(384))  # 15:24
    result = r.run(
        entry_plan(
            (391, Market(order="entry")),
            place_at=385,
        )
    )
    assert r.sent("kt10003") == []
    assert result.jobs["steps[0]"].startswith(
        "failed (market not sent, nothing cancelled: market orders are not accepted at 15:31"
    )
    assert result.exit_code == 2  # the position was not closed: it needs attention
    assert [o.remaining for o in r.sim.orders().values()] == [10]


def test_a_regular_order_is_not_cancelled_or_modified_after_the_close(tmp_path):
    r = Rehearsal(tmp_path, start=at(384))
    result = r.run(
        entry_plan(
            (400, Modify(order="entry", price=69100)),
            (405, Cancel(order="entry")),
            place_at=385,
        )
    )
    assert r.sent("kt10002", "kt10003") == []
    assert result.jobs["steps[0]"].startswith("skipped (limit orders are not accepted at 15:40")
    assert result.jobs["steps[1]"].startswith("skipped (limit orders are not accepted at 15:45")


def test_after_hours_single_price_order_goes_in_its_own_session(tmp_path):
    r = Rehearsal(tmp_path, start=at(424))  # 16:04
    late = spec("late", order_type="after_hours_single", price=69000)
    result = r.run(
        plan(
            [late],
            [job("late.place", 425, Place(spec=late)), job("steps[0]", 430, Cancel(order="late"))],
        )
    )
    assert result.exit_code == 0, result.attention
    [place] = r.sent("kt10000")
    assert place["trde_tp"] == "62"
    assert [b["cncl_qty"] for b in r.sent("kt10003")] == ["0"]


def test_max_order_value_is_checked_again_at_fire_time(tmp_path):
    r = Rehearsal(tmp_path)
    entry = spec(price=69000)  # 10 x 69,000 = 690,000
    result = r.run(
        plan(
            [entry],
            [
                job("entry.place", 0.1, Place(spec=entry)),
                job("steps[0]", 1, Modify(order="entry", ticks=2)),  # 692,000: fits
                job("steps[1]", 2, Modify(order="entry", price=70100)),
            ],  # 701,000: refused
            policy=Policy(max_order_value=700_000),
        )
    )
    assert [b["mdfy_uv"] for b in r.sent("kt10002")] == ["69200"]
    assert result.jobs["steps[1]"] == (
        "skipped (order value 701,000 KRW exceeds max_order_value 700,000)"
    )


def test_issue15_item3_runner_skips_a_62_order_outside_the_10pct_band(tmp_path):
    r = Rehearsal(tmp_path, start=at(424))  # 16:04, 005930 at 70,000
    inside = spec("inside", order_type="after_hours_single", price=77000)
    outside = spec("outside", order_type="after_hours_single", price=77100)
    result = r.run(
        plan(
            [inside, outside],
            [
                job("inside.place", 425, Place(spec=inside)),
                job("outside.place", 426, Place(spec=outside)),
            ],
        )
    )
    assert [b["ord_uv"] for b in r.sent("kt10000")] == ["77000"]
    assert result.jobs["outside.place"].startswith(
        "skipped (77,100 is outside the after-hours single-price band 63,000-77,000"
    )
