"""Attacks on the safety rules through the real command line against `planrunner sim` on
127.0.0.1: several plans in one process, adoption spelled differently, and the like.
Each test names what it proves; each failed on the code before its fix."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import (
    FAKE_KEYS,
    SimProcess,
    dry_run,
    ending,
    read_until,
    run_cli,
    start_planrunner,
)
from tests.support.plan_text import plan_of
from tests.support.sim import Raw


@pytest.fixture
def sim():
    s = SimProcess()
    yield s
    s.close()


def _hand_order(sim: SimProcess) -> str:
    """A buy of 10 at 60,000 placed by hand (not by any plan); its order number."""
    with httpx.Client(base_url=sim.url) as http:
        raw = Raw(http)
        raw.login(FAKE_KEYS["KIWOOM_APPKEY"], FAKE_KEYS["KIWOOM_SECRETKEY"])
        return str(raw.buy(10, 60000)["ord_no"])


def _adopting(name: str, adopt: str | None, *more: str) -> str:
    """`held`, adopting the order number `adopt` (none: placed), cancelled at +2s; `more`:
    other orders of the plan."""
    spelled = f', adopt: "{adopt}"' if adopt else ""
    held = f'held: {{symbol: "005930", side: buy, qty: 10, price: 60000{spelled}}}'
    return plan_of(name, held, *more, steps=('{at: "+2s", cancel: {order: held}}',))


# A buy far above the market: it fills as it arrives (the simulator's walk starts near
# 70,000); a cancel later that the fill makes needless.
FILLS_AT_ONCE = plan_of(
    "fills",
    'e: {symbol: "005930", side: buy, qty: 10, price: 90000, at: "+1s"}',
    steps=('{at: "+4s", cancel: {order: e}}',),
)


def _orders_sent(sim: SimProcess) -> list[str]:
    return [e["api_id"] for e in sim.order_requests()]


def test_issue11_two_plans_cannot_adopt_one_order_spelled_with_more_zeros(sim, tmp_path):
    """`0000001` in one plan and `--adopt beta:held=00000001` for the other are the same
    broker order: one process managing it from two plans is refused before any send
    (it ran both: one plan cancelled it and the other reported it open, exit 0)."""
    no = _hand_order(sim)
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(_adopting("alpha", no), encoding="utf-8")
    b.write_text(_adopting("beta", None), encoding="utf-8")
    state = tmp_path / "s"
    args = dry_run(a, sim.url, state)
    done = run_cli(*args[:2], str(b), *args[2:], "--adopt", f"beta:held=0{no}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "adopted twice" in done.stderr
    assert _orders_sent(sim) == ["kt10000"]  # the hand order alone


def test_issue11_one_plan_cannot_adopt_one_order_for_two_of_its_orders(sim, tmp_path):
    """Two orders of one plan adopting the same number would each be reported (twice the
    quantity cancelled in the summary); the plan is refused."""
    no = _hand_order(sim)
    twin = f'twin: {{symbol: "005930", side: buy, qty: 10, price: 60000, adopt: "{no}"}}'
    plan = tmp_path / "p.yaml"
    plan.write_text(_adopting("alpha", no, twin), encoding="utf-8")
    done = run_cli(*dry_run(plan, sim.url, tmp_path / "s"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "adopted twice" in done.stdout + done.stderr
    assert _orders_sent(sim) == ["kt10000"]


def _journal_records(state: Path) -> list[dict[str, object]]:
    lines = [line for f in state.glob("*/*.jsonl") for line in f.read_text().splitlines()]
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("fault", ["ws_repeat:api=00,after=1"])
def test_issue11_a_fill_pushed_twice_is_one_fill(fault, tmp_path):
    """The broker pushes one `00` fill event twice: the run printed and journaled
    "filled 10 … (20/10 filled)", a fill that never happened."""
    s = SimProcess("--fault", fault)
    try:
        plan = tmp_path / "p.yaml"
        plan.write_text(FILLS_AT_ONCE, encoding="utf-8")
        state = tmp_path / "s"
        done = run_cli(*dry_run(plan, s.url, state))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "20/10" not in done.stdout and "filled 10 at" in done.stdout, done.stdout
        fills = [r for r in _journal_records(state) if r.get("type") == "fill"]
        assert fills and max(int(str(r["filled"])) for r in fills) == 10, fills
        assert [e["api_id"] for e in s.order_requests()] == ["kt10000"]
    finally:
        s.close()


def test_issue11_an_order_another_running_plan_adopted_is_not_adopted_again(sim, tmp_path):
    """Plan ax (its own process, another app key of the account) adopted the hand order
    and will cancel it; plan ay adopts the same number from the same state directory.
    It was taken: ay modified the order (ax then cancelled ay's new number as its own)
    and reported it open, exit 0. Two runners never manage one order: ay is refused
    before it sends anything, naming the runner that manages it."""
    no = _hand_order(sim)
    ax = tmp_path / "ax.yaml"
    ay = tmp_path / "ay.yaml"
    # ax cancels at +30s: ay's whole run (its start under a loaded machine included) must
    # fall while ax still manages the order (at +8s a slow start found it cancelled)
    ax.write_text(_adopting("ax", no).replace('"+2s"', '"+30s"'), encoding="utf-8")
    ay.write_text(
        _adopting("ay", no).replace("cancel: {order: held}", "modify: {order: held, price: 60100}"),
        encoding="utf-8",
    )
    state = tmp_path / "s"
    first = start_planrunner(
        *dry_run(ax, sim.url, state),
        seams=True,
        env={"KIWOOM_APPKEY": "loopback-appkey-0002"},
        merged=True,
    )
    try:
        read_until(first, "scheduled")  # it has adopted the order
        second = run_cli(*dry_run(ay, sim.url, state))
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {first.pid}" in second.stdout + second.stderr
        assert _orders_sent(sim) == ["kt10000"]  # ay sent nothing
    finally:
        rest = first.communicate(timeout=120)[0]
    assert first.returncode == 0, rest
    assert _orders_sent(sim) == ["kt10000", "kt10003"]  # ax's cancel of its order


def test_issue11_a_plan_file_renamed_the_same_day_does_not_start_over(sim, tmp_path):
    """The plan's `name:` is edited after its order went in: the run started a new
    journal under the new name and placed the order a second time (the first left open
    and unmanaged), exit 0. The file has a journal for the day under its old name: the
    run is refused before it sends anything, saying which name and how to go on."""
    plan = tmp_path / "p.yaml"
    text = _adopting("before", None).replace("held: {", 'held: {at: "+1s", ')
    plan.write_text(text.replace('"+2s"', '"+60s"'), encoding="utf-8")
    state = tmp_path / "s"
    first = start_planrunner(*dry_run(plan, sim.url, state), seams=True, merged=True)
    read_until(first, "acked place")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert _orders_sent(sim) == ["kt10000"]
    plan.write_text(plan.read_text().replace("name: before", "name: after"), encoding="utf-8")
    again = run_cli(*dry_run(plan, sim.url, state))
    assert again.returncode == 2, again.stdout + again.stderr
    assert "name: before" in again.stderr and "--fresh" in again.stderr, again.stderr
    assert _orders_sent(sim) == ["kt10000"]  # not placed a second time
    # and the refused run left no empty journal under the new name behind
    assert not (state / "after").exists(), list((state / "after").iterdir())


STOP_LOSS = plan_of(
    "stop",
    'entry: {symbol: "005930", side: sell, qty: 10, price: 75000, at: "+1s"}',
    steps=('{at: "+60s", cancel: {order: entry}}',),
    more="""\
triggers:
  - id: stop
    when: {price: {symbol: "005930", below: 69000}}
    between: ["00:00", "23:59"]
    market: {order: entry}
""",
)


def _placed(s: SimProcess, tmp_path: Path, text: str) -> tuple[subprocess.Popen[str], list[str]]:
    """The plan `text` run (--dry-run) against `s`, its price at 70,000 first; its output,
    stderr merged, read until its order is placed."""
    s.post("price", {"symbol": "005930", "price": 70000})
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    proc = start_planrunner(*dry_run(plan, s.url, tmp_path / "s"), seams=True, merged=True)
    return proc, read_until(proc, "acked place")


def test_issue11_a_stop_whose_cancel_answers_late_still_sells_at_market(tmp_path):
    """A stop-loss trigger's `market`: its cancel is answered after the client's timeout
    (the broker did cancel). A step settles that from the broker and sends the market
    order; the trigger did not: the run saw the order cancelled, ended at once ("nothing
    more can happen"), and the position was cancelled and never sold (exit 2, outcome
    unknown). The firing is settled like a step: the market sell goes out once."""
    with SimProcess("--fault", "latency:api=kt10003,ms=11000,count=1") as s:
        proc, seen = _placed(s, tmp_path, STOP_LOSS)
        with ending(proc):
            s.post("price", {"symbol": "005930", "price": 68000})  # the stop's crossing
            out = "".join(seen) + proc.communicate(timeout=180)[0]
        assert _orders_sent(s) == ["kt10001", "kt10003", "kt10001"], out  # market once
        assert proc.returncode == 0, out
        assert "trigger stop: done" in out, out


REPEAT_UP = plan_of(
    "rep",
    'e: {symbol: "005930", side: buy, qty: 10, price: 60000, at: "+1s"}',
    steps=('{at: "+35s", cancel: {order: e}}',),
    more="""\
triggers:
  - {id: up, when: {price: {symbol: "005930", above: 71000}}, between: ["00:00", "23:59"],
     repeat: true, modify: {order: e, price: "+1 tick"}}
""",
)


def test_issue11_a_repeat_firing_in_doubt_fires_no_more_and_is_adopted_later(tmp_path):
    """A repeat trigger's modify reaches the broker 20 s late (after the client gave up
    and the first look found nothing). Later crossings while it is in doubt send nothing
    more; the cancel step's look finds it and the summary says so (it said "unknown",
    exit 2, although the run had found the modify)."""
    with SimProcess("--fault", "latency:api=kt10002,ms=20000,count=1") as s:
        proc, seen = _placed(s, tmp_path, REPEAT_UP)
        with ending(proc):
            for price in (71500, 70500, 71600, 70000, 71700):  # three crossings
                s.post("price", {"symbol": "005930", "price": price})
                time.sleep(1)  # each its own push (the test's pace, not a wait for a result)
            out = "".join(seen) + proc.communicate(timeout=180)[0]
        assert _orders_sent(s) == ["kt10000", "kt10002", "kt10003"], out  # one modify in doubt
        assert "trigger up: done (found at the broker later)" in out, out
        assert proc.returncode == 0, out


ENDS_EARLY = plan_of("fa", 'e: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "+1s"}')

STOP_WATCH = STOP_LOSS.replace("name: stop", "name: fb").replace("below: 69000", "below: 68500")


def test_issue11_a_plan_that_ends_first_leaves_the_others_their_feed(tmp_path):
    """Two plans in one process on one feed. fa places a bid and ends, the bid left
    resting; fb's stop watches the price. The bid then filled: its pushed `00` event
    went to fa's listener too, which wrote the fill to fa's closed journal; the error
    ended the feed's thread, silently, and fb's stop never fired (its order cancelled at
    its step, exit 0). A plan that ends leaves the feed; the others keep it."""
    with SimProcess() as s:
        s.post("price", {"symbol": "005930", "price": 70000})
        fa = tmp_path / "fa.yaml"
        fb = tmp_path / "fb.yaml"
        fa.write_text(ENDS_EARLY, encoding="utf-8")
        fb.write_text(STOP_WATCH, encoding="utf-8")
        state = tmp_path / "s"
        args = dry_run(fa, s.url, state)
        both = [*args[:2], str(fb), *args[2:]]
        with ending(start_planrunner(*both, seams=True, merged=True)) as proc:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until fa's journal says it stopped
                found = list((state / "fa").glob("*.jsonl"))
                lines = found[0].read_text().splitlines() if found else []
                if any('"type":"stop"' in line.replace(" ", "") for line in lines):
                    break
                time.sleep(0.2)
            s.post("price", {"symbol": "005930", "price": 68900})  # fa's bid fills
            time.sleep(1)  # its 00 event pushed before the next price (the test's pace)
            s.post("price", {"symbol": "005930", "price": 68000})  # fb's stop: below 68,500
            out = proc.communicate(timeout=180)[0]
        assert "[fb]" in out and "trigger stop fired" in out, out
        assert _orders_sent(s).count("kt10001") == 2, out  # fb's sell, and its market sell once


def test_issue11_one_plan_file_with_other_values_is_another_plan_not_a_rename(sim, tmp_path):
    """The control of the renamed-plan refusal: one file run twice the same day with
    other `--set` values is two plans (each value set its own journal), both run."""
    plan = tmp_path / "p.yaml"
    plan.write_text(
        """\
version: 1
name: tpl
params:
  price: {type: integer}
orders:
  e: {symbol: "005930", side: buy, qty: 10, price: "${price}", at: "+1s"}
steps:
  - {at: "+2s", cancel: {order: e}}
""",
        encoding="utf-8",
    )
    state = tmp_path / "s"
    for price in ("60000", "60100"):
        done = run_cli(*dry_run(plan, sim.url, state, "--set", f"price={price}"))
        assert done.returncode == 0, done.stdout + done.stderr
    assert _orders_sent(sim) == ["kt10000", "kt10003"] * 2
