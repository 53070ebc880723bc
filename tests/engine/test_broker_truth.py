"""Issue 12: the broker's lists are the final word on every order the run touched, under
every broker behaviour we could not verify (simulator switches, planrunner/sim/behaviour.py).
"""

from __future__ import annotations

import pytest

from planrunner.app.targets import warm_up
from planrunner.app.text import status_data
from planrunner.engine.execute import Executor, InDoubt
from planrunner.engine.journal import replay
from planrunner.engine.outcome import DONE
from planrunner.engine.reconcile import reconcile
from planrunner.engine.summary import summarize
from planrunner.model import Cancel, CompiledPlan, Market, Modify, Place, Policy, Replace
from planrunner.sim.behaviour import Behaviour
from planrunner.sim.broker import NewOrder
from tests.support.rehearsal import Rehearsal, entry_plan, job, plan, spec

ORDERS = ("kt10000", "kt10001", "kt10002", "kt10003")
STILL = "symbols: {'005930': {price: 70000, walk: false}}"


def scenario(broker: dict[str, str], body: str = STILL) -> str:
    if not broker:
        return body
    pairs = ", ".join(f"{k}: '{v}'" for k, v in broker.items())
    return body + f"\nbroker: {{{pairs}}}\n"


def open_at_sim(r: Rehearsal) -> int:
    return sum(o.remaining for o in r.sim.orders().values())


def direct(r: Rehearsal, compiled: CompiledPlan) -> Executor:
    """An executor run step by step (no scheduler), to steer the broker between steps."""
    assert r.target is not None
    warm_up(r.target, compiled.day)
    journal = r.journal()
    journal.open()
    return Executor(
        plan=compiled,
        client=r.target.client,
        journal=journal,
        clock=r.target.clock,
        emit=r.events.append,
    )


PARTIAL_CANCEL_BROKERS = [
    {"remainder": "cancel"},
    {"orig_ord_no": "root"},
    {"remainder": "cancel", "orig_ord_no": "root"},
    Behaviour.all_unusual().changed(),
]


@pytest.mark.parametrize("broker", PARTIAL_CANCEL_BROKERS, ids=lambda b: ",".join(b))
def test_issue12_item1_partial_cancel_remainder_is_found_and_cancelled(tmp_path, broker):
    # place 10 → modify price → modify qty 6 (a partial cancel of 4) → cancel: the final
    # cancel finds the 6 wherever the broker lists them, and nothing stays open.
    r = Rehearsal(tmp_path, scenario=scenario(broker))
    result = r.run(
        entry_plan(
            (1, Modify(order="entry", price=69100)),
            (2, Modify(order="entry", qty=6)),
            (3, Cancel(order="entry")),
        )
    )
    assert result.jobs["steps[2]"] == "done", result.jobs
    assert open_at_sim(r) == 0
    assert [b.get("cncl_qty") for b in r.sent("kt10003")] == ["4", "0"]
    assert result.exit_code == 0, result.attention
    [summary] = result.orders
    assert (summary.filled, summary.remaining, summary.state) == (0, 0, "cancelled")


def test_issue12_item1_lists_and_arithmetic_disagree_is_in_doubt_not_not_open(tmp_path):
    # 10 ordered, 0 filled, 4 cancelled: 6 must be open somewhere. A broker that lists
    # them under a number the run cannot link makes the order in doubt: exit 2, loudly.
    r = Rehearsal(tmp_path)
    entry = spec(price=69000)
    compiled = plan([entry], [])
    ex = direct(r, compiled)
    assert ex.execute("entry.place", Place(spec=entry)) == DONE
    assert ex.execute("steps[0]", Modify(order="entry", qty=6)) == DONE
    first = next(o for o in r.sim.broker.orders.values() if o.kind == "order")
    first.moved += first.remaining  # the broker now shows the 6 nowhere we can link
    state = str(ex.execute("steps[1]", Cancel(order="entry")))
    assert state.startswith("in doubt (10 ordered, 0 filled, 4 cancelled"), state
    result = summarize(
        plan=compiled,
        executor=ex,
        journal=ex.journal,
        states={"steps[1]": state},
        fatal=None,
        interrupted=False,
    )
    ex.journal.close()
    assert result.exit_code == 2
    assert result.orders[0].state == "in doubt"
    assert any("steps[1]: in doubt" in a for a in result.attention), result.attention
    assert not any("not open" in a for a in result.attention)


ZERO_ANSWERS = [{"all_qty": "zeros"}, Behaviour.all_unusual().changed()]


@pytest.mark.parametrize("broker", [{}, *ZERO_ANSWERS], ids=lambda b: ",".join(b) or "default")
def test_issue12_item2_market_sizes_from_the_lists_not_the_cancel_answer(tmp_path, broker):
    body = """
symbols:
  "005930": {price: 70000, walk: false, path: [["09:01", 69000]], fill: {mode: partial, max_qty: 3}}
"""
    r = Rehearsal(tmp_path, scenario=scenario(broker, body))
    entry = spec(price=69000)
    result = r.run(
        plan(
            [entry],
            [job("entry.place", 0.1, Place(spec=entry)), job("steps[0]", 2, Market(order="entry"))],
        )
    )
    market = [b for b in r.sent("kt10000") if b["trde_tp"] == "3"]
    assert [b["ord_qty"] for b in market] == ["7"], result.jobs  # 3 filled, 7 cancelled
    assert result.exit_code == 0, result.attention


@pytest.mark.parametrize("broker", ZERO_ANSWERS, ids=lambda b: ",".join(b))
def test_issue12_item2_replace_after_a_zeros_cancel_answer(tmp_path, broker):
    r = Rehearsal(tmp_path, scenario=scenario(broker))
    result = r.run(
        entry_plan(
            (1, Replace(order="entry", qty=10, price=69500)),
        )
    )
    new = [b for b in r.sent("kt10000") if b.get("ord_uv") == "69500"]
    assert [b["ord_qty"] for b in new] == ["10"]
    assert result.exit_code == 0, result.attention


@pytest.mark.parametrize(
    ("broker", "typed"),
    [({"padding": "none"}, "0000024"), ({}, "00024"), ({}, "24")],
    ids=["broker-unpadded", "user-5-digits", "user-unpadded"],
)
def test_issue12_item5_order_numbers_compare_without_padding(tmp_path, broker, typed):
    # An order placed elsewhere (HTS) as number 24 is adopted as the user typed it; the
    # broker writes it its own way. The cancel finds it and names it as the broker does.
    r = Rehearsal(tmp_path, scenario=scenario(broker))
    r.sim.set_next_ord_no(24)
    with r.sim.lock:
        r.sim.broker.place(
            NewOrder(symbol="005930", side="buy", trde_tp="0", exchange="KRX", qty=10, price=69000),
            r.sim.clock.now(),
        )
    entry = spec(price=69000, adopt=typed)
    result = r.run(plan([entry], [job("steps[0]", 1, Cancel(order="entry"))]))
    assert result.jobs["steps[0]"] == "done", result.jobs
    [cancel] = r.sent("kt10003")
    assert cancel["orig_ord_no"] == ("24" if broker else "0000024")
    assert open_at_sim(r) == 0
    assert result.exit_code == 0, result.attention


def test_issue12_item4_every_attention_item_exits_2_and_status_shows_the_same(tmp_path):
    r = Rehearsal(tmp_path)
    orders = [spec(f"o{i}", price=69000) for i in range(6)]
    wild = spec("wild", price=100000, qty=1)  # above the day's upper limit: the broker refuses
    compiled = plan(
        [*orders, wild],
        [job(f"o{i}.place", 0.1, Place(spec=o)) for i, o in enumerate(orders)]
        + [job("wild.place", 0.2, Place(spec=wild))],
        policy=Policy(max_order_value=100_000, misfire_grace=plan([], []).policy.misfire_grace),
    )
    result = r.run(compiled)
    assert r.sent("kt10000") == []  # six over max_order_value; the seventh refused
    assert result.exit_code == 2
    assert len(result.attention) == 7, result.attention
    assert sum("max_order_value" in a for a in result.attention) == 6
    assert result.jobs["wild.place"].startswith("rejected (")
    data = status_data(compiled, replay(tmp_path / "journal.jsonl"))
    assert data["attention"] == list(result.attention)
    reasons = sorted(i["reason"] for i in data["attention_items"])
    assert reasons == ["rejected"] + ["skipped"] * 6
    states = {j["job"]: j["state"] for j in data["jobs"]}
    assert states["wild.place"] == "rejected"
    for job_id, text in result.jobs.items():
        assert text.split(" (")[0] == states[job_id], (job_id, text, states[job_id])


@pytest.mark.parametrize(
    "broker",
    [{"orig_ord_no": "root"}, Behaviour.all_unusual().changed()],
    ids=lambda b: ",".join(b),
)
def test_issue12_item1_dropped_modify_settles_when_the_lists_name_the_root(tmp_path, broker):
    # The second modify's answer is lost. The broker lists its new number with the
    # lineage's root as orig_ord_no: it is still this order's, so it executed.
    r = Rehearsal(tmp_path, scenario=scenario(broker))
    entry = spec(price=69000)
    compiled = plan([entry], [])
    ex = direct(r, compiled)
    assert ex.execute("entry.place", Place(spec=entry)) == DONE
    assert ex.execute("steps[0]", Modify(order="entry", price=69100)) == DONE
    r.sim.faults.add("drop:api=kt10002")
    with pytest.raises(InDoubt):
        ex.execute("steps[1]", Modify(order="entry", price=69200))
    assert r.target is not None
    settled = reconcile(
        journal=ex.journal,
        client=r.target.client,
        clock=r.target.clock,
        emit=r.events.append,
        settle=0,
    )
    assert settled == 1
    assert ex.execute("steps[1]", Modify(order="entry", price=69200)) == DONE
    assert ex.execute("steps[2]", Cancel(order="entry")) == DONE
    ex.journal.close()
    assert len(r.sent("kt10002")) == 2
    assert open_at_sim(r) == 0
