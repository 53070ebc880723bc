"""compile: job ids, placeholders, the exact requests, and the rules that need the day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.model import CompiledPlan, Modify
from planrunner.plan.compile import check_file, compile_file
from tests.support.plan_text import BASE, DAY, NOW, problems

SEOUL = dt.timezone(dt.timedelta(hours=9))


def compiled(tmp_path: Path, text: str, **kw: object) -> CompiledPlan:
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    return compile_file(f, day=DAY, now=NOW, **kw)  # type: ignore[arg-type]


def wire(plan: CompiledPlan) -> list[tuple[str, str, dict[str, str]]]:
    return [(j.id, r.api_id, r.body) for j in plan.jobs for r in j.requests]


LADDER = BASE + (
    "steps:\n  - ladder: {order: entry, every: 5m, by: +2 ticks, from: '09:35', "
    "until: '10:30', limit: 70500}\n"
)


def test_ladder_rungs_stop_before_the_limit(tmp_path: Path) -> None:
    plan = compiled(tmp_path, LADDER)
    rungs = [j for j in plan.jobs if j.id.startswith("entry.ladder@09:35")]
    assert [(j.id, j.at_text, j.action) for j in rungs] == [
        (
            "entry.ladder@09:35#1",
            "09:35",
            Modify(order="entry", price=70200, ticks=2, limit=70500),
        ),
        (
            "entry.ladder@09:35#2",
            "09:40",
            Modify(order="entry", price=70400, ticks=2, limit=70500),
        ),
    ]  # 70,600 would pass 70,500: the chain stops
    assert rungs[1].requests[0].body["orig_ord_no"] == "<entry@2>"


def test_market_is_cancel_then_market_order_of_the_confirmed_qty(tmp_path: Path) -> None:
    plan = compiled(tmp_path, BASE + "steps:\n  - at: '14:50'\n    market: {order: entry}\n")
    assert wire(plan)[1:] == [
        (
            "entry.market@14:50",
            "kt10003",
            {
                "dmst_stex_tp": "KRX",
                "orig_ord_no": "<entry@1>",
                "stk_cd": "005930",
                "cncl_qty": "0",
            },
        ),
        (
            "entry.market@14:50",
            "kt10000",
            {
                "dmst_stex_tp": "KRX",
                "stk_cd": "005930",
                "ord_qty": "<confirmed qty>",
                "ord_uv": "",
                "trde_tp": "3",
                "cond_uv": "",
            },
        ),
    ]


def test_qty_down_is_a_partial_cancel_and_price_a_modify_of_all(tmp_path: Path) -> None:
    text = BASE + "steps:\n  - at: '10:00'\n    modify: {order: entry, qty: 6, price: +1 tick}\n"
    assert wire(compiled(tmp_path, text))[1:] == [
        (
            "entry.modify@10:00",
            "kt10003",
            {
                "dmst_stex_tp": "KRX",
                "orig_ord_no": "<entry@1>",
                "stk_cd": "005930",
                "cncl_qty": "4",
            },
        ),
        (
            "entry.modify@10:00",
            "kt10002",
            {
                "dmst_stex_tp": "KRX",
                "orig_ord_no": "<entry@1>",  # the partial cancel leaves the rest there
                "stk_cd": "005930",
                "mdfy_qty": "0",
                "mdfy_uv": "70100",
            },
        ),
    ]


def test_replace_cancels_then_places_the_new_total_less_what_filled(tmp_path: Path) -> None:
    text = BASE + "steps:\n  - at: '10:00'\n    replace: {order: entry, qty: 20}\n"
    ids = [
        (j, a, b.get("orig_ord_no"), b.get("ord_qty")) for j, a, b in wire(compiled(tmp_path, text))
    ]
    assert ids[1:] == [
        ("entry.replace@10:00", "kt10003", "<entry@1>", None),
        ("entry.replace@10:00", "kt10000", None, "<20 - filled>"),
    ]


def test_adopted_order_starts_from_its_number(tmp_path: Path) -> None:
    text = (
        "version: 1\nname: t\norders:\n  hedge: {adopt: '0000139', symbol: '000660', side: sell}\n"
        "steps:\n  - {at: '10:00', modify: {order: hedge, price: +1 tick}}\n"
        "  - {at: '11:00', cancel: {order: hedge}}\n"
    )
    assert [
        (j, b["orig_ord_no"], b.get("mdfy_uv")) for j, _, b in wire(compiled(tmp_path, text))
    ] == [
        ("hedge.modify@10:00", "0000139", "<hedge price +1 tick>"),
        ("hedge.cancel@11:00", "<hedge@1>", None),
    ]


def test_relative_times_count_from_the_run_start(tmp_path: Path) -> None:
    text = (
        BASE.replace('"09:00:05"', '"+2s"') + "steps:\n  - {at: '+90s', cancel: {order: entry}}\n"
    )
    start = dt.datetime(2026, 11, 26, 13, 0, tzinfo=SEOUL)
    plan = compiled(tmp_path, text, run_start=start)
    assert [(j.id, j.at.time().isoformat(), j.at_text) for j in plan.jobs] == [
        ("entry.place", "13:00:02", "+2s"),
        ("entry.cancel@+90s", "13:01:30", "+90s"),
    ]


def test_triggers_name_the_newest_number_and_default_to_the_session(tmp_path: Path) -> None:
    text = (
        BASE + "triggers:\n  - {id: stop, when: {price: {symbol: '005930', below: 69000}}, "
        "market: {order: entry}}\n"
    )
    (trig,) = compiled(tmp_path, text).triggers
    assert trig.between == (dt.time(9, 0), dt.time(15, 30))
    assert trig.requests[0].body["orig_ord_no"] == "<entry>"


def test_action_after_cancel_is_refused(tmp_path: Path) -> None:
    text = (
        BASE + "steps:\n  - {at: '15:10', cancel: {order: entry}}\n"
        "  - {at: '15:15', modify: {order: entry, price: 70100}}\n"
    )
    assert problems(tmp_path, text) == [
        "12:10: $.steps[1].at: order 'entry' has nothing left at 15:15: entry.cancel@15:10 "
        "(cancel at 15:10) already closed it"
    ]


def test_modify_cannot_add_qty(tmp_path: Path) -> None:
    text = BASE + "steps:\n  - {at: '10:00', modify: {order: entry, qty: 12}}\n"
    assert problems(tmp_path, text) == [
        "11:47: $.steps[0].modify.qty: qty 12 is more than the 10 that remain: a modify cannot "
        "add, use replace to add"
    ]


def test_time_outside_the_session_for_the_order_type(tmp_path: Path) -> None:
    text = BASE.replace('"09:00:05"', '"08:10"')
    assert problems(tmp_path, text) == [
        "9:9: $.orders.entry.at: 08:10 is outside the hours of a limit order on KRX on "
        "2026-11-26: pre-open auction 08:30:00-09:00:00, regular session 09:00:00-15:30:00"
    ]


def test_exam_day_opens_late(tmp_path: Path) -> None:
    text = BASE.replace('"09:00:05"', '"09:10"')
    assert problems(tmp_path, text, day=dt.date(2026, 11, 19)) == [
        "9:9: $.orders.entry.at: 09:10 is outside the hours of a limit order on KRX on "
        "2026-11-19: pre-open auction 09:30:00-10:00:00, regular session 10:00:00-16:30:00"
    ]


def test_max_order_value(tmp_path: Path) -> None:
    text = LADDER + "policy: {max_order_value: 704000}\n"
    assert problems(tmp_path, text) == [
        "11:91: $.steps[0].ladder.limit: order value 10 x 70,500 (ladder limit) = 705,000 won "
        "exceeds policy.max_order_value 704,000"
    ]


def test_day_override_that_is_not_a_trading_day(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE, day=dt.date(2026, 6, 3)) == [
        "1:1: $: 2026-06-03 is not a KRX trading day (Local Election Day)"
    ]


def test_issue12_item7_validate_verdict_does_not_depend_on_the_hour(tmp_path: Path) -> None:
    # An order without `at:` is placed when the run starts; validate and show lay it out
    # at the session's open whatever the hour, so the verdict is the same all day long.
    text = BASE.replace('    at: "09:00:05"\n', "") + (
        "steps:\n  - at: '10:00'\n    cancel: {order: entry}\n"
    )
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    verdicts = {
        hour: [str(p) for p in check_file(f, day=DAY, now=dt.datetime.combine(DAY, hour, SEOUL))]
        for hour in (dt.time(7, 0), dt.time(9, 27), dt.time(10, 12), dt.time(16, 0))
    }
    assert all(v == [] for v in verdicts.values()), verdicts
    shown = {
        hour: [
            (j.id, j.at)
            for j in compile_file(f, day=DAY, now=dt.datetime.combine(DAY, hour, SEOUL)).jobs
        ]
        for hour in (dt.time(9, 27), dt.time(10, 12))
    }
    assert shown[dt.time(9, 27)] == shown[dt.time(10, 12)]
    assert shown[dt.time(9, 27)][0] == ("entry.place", dt.datetime.combine(DAY, dt.time(9), SEOUL))
