"""Cross-field rules that need no day: each one, with its exact line."""

from __future__ import annotations

from pathlib import Path

import pytest

from planrunner.clock import parse_duration
from planrunner.model import parse_trigger_job, trigger_job
from planrunner.plan.rules import parse_time, trigger_id
from tests.support.plan_text import BASE, problems

STEP = BASE + "steps:\n  - at: '09:30'\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            STEP + "    modify: {order: entyr, price: 70100}\n",
            ["12:21: $.steps[0].modify.order: unknown order 'entyr' (orders: entry)"],
        ),
        (
            BASE.replace("price: 70000", "price: 70030"),
            [
                "8:12: $.orders.entry.price: 70030 is not on the KRX tick grid (tick 100 at "
                "this price): nearest valid prices are 70000 and 70100"
            ],
        ),
        (
            STEP + "    modify: {order: entry, price: 70050}\n",
            [
                "12:35: $.steps[0].modify.price: 70050 is not on the KRX tick grid (tick 100 "
                "at this price): nearest valid prices are 70000 and 70100"
            ],
        ),
        (
            BASE.replace("    price: 70000\n", ""),
            ["4:3: $.orders.entry: a limit order needs a price"],
        ),
        (
            BASE.replace("    price: 70000\n", "    price: 70000\n    type: market\n"),
            ["8:12: $.orders.entry.price: a market order has no price: remove it"],
        ),
        (
            BASE.replace("    price: 70000\n", "    price: 70000\n    type: stop_limit\n"),
            ["4:3: $.orders.entry: a stop_limit order needs stop_price (sent as cond_uv)"],
        ),
        (
            BASE + "triggers:\n"
            "  - {id: s, when: {filled: {order: entry}}, cancel: {order: entry}}\n"
            "  - {id: s, when: {filled: {order: entry}}, cancel: {order: entry}}\n",
            ["12:10: $.triggers[1].id: trigger id 's' is already used at $.triggers[0]"],
        ),
        (
            BASE + "triggers:\n  - {when: {filled: {order: nope}}, cancel: {order: entry}}\n",
            ["11:29: $.triggers[0].when.filled.order: unknown order 'nope' (orders: entry)"],
        ),
        (
            BASE + "date: 2026-12-25\n",
            ["10:7: $.date: 2026-12-25 is not a KRX trading day (Christmas Day)"],
        ),
        (
            BASE + "date: 2026-11-28\n",
            ["10:7: $.date: 2026-11-28 is not a KRX trading day (a Saturday)"],
        ),
        (
            BASE + "steps:\n  - ladder: {order: entry, every: 5m, by: -1 tick, from: '09:35', "
            "until: '10:00', limit: 69000}\n",
            [
                "11:43: $.steps[0].ladder.by: a buy ladder moves the price up (+N ticks)",
                "11:90: $.steps[0].ladder.limit: limit 69000 is below the ladder's first price "
                "70000: a buy ladder moves up",
            ],
        ),
        (
            BASE + "steps:\n  - at: '09:30'\n    place: {id: entry, symbol: '005930', "
            "side: buy, qty: 1, price: 70000}\n",
            ["12:17: $.steps[0].place.id: order id 'entry' is already used at $.orders.entry"],
        ),
    ],
)
def test_rule(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text, day=None) == expected


def test_times_and_durations_parse() -> None:
    assert parse_time("9:30").clock is not None
    assert str(parse_time("15:10:05").clock) == "15:10:05"
    assert parse_time("+90s").offset is not None
    assert parse_duration("500ms").total_seconds() == 0.5
    assert parse_duration("5m").total_seconds() == 300


def test_issue11_item14_a_repeat_trigger_cannot_place(tmp_path: Path) -> None:
    text = (
        BASE + "triggers:\n"
        "  - when: {price: {symbol: '005930', below: 69000}}\n"
        "    repeat: true\n"
        "    place: {id: dip, symbol: '005930', side: buy, qty: 1, price: 68000}\n"
    )
    assert problems(tmp_path, text) == [
        "12:13: $.triggers[0].repeat: a trigger that places 'dip' fires once: "
        "a plan order is placed once (use one trigger per order to place)"
    ]


def test_trigger_job_ids_read_back_to_their_trigger_and_firing() -> None:
    unnamed = trigger_id({"when": {"price": {"symbol": "005930", "below": 1}}, "cancel": {}})
    assert unnamed.startswith(".cancel#")
    for tid in ("stop", "exit-2", unnamed, "exit.market#12345678", ".cancel#00000000"):
        for n in (1, 2, 13):
            job = trigger_job(tid, n)
            assert job == (f"trigger:{tid}" if n == 1 else f"trigger:{tid}#{n}")
            assert parse_trigger_job(job) == (tid, n)
    assert parse_trigger_job("entry.place") is None
    assert parse_trigger_job("oco:pair:stop@3") is None
