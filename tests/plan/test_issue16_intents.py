"""Issue 16 intents in the plan language: prices from a fill, trailing stops and
one-cancels-other groups. What each accepts, and each refusal with its exact line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from planrunner.krx import ticks
from tests.support.plan_text import BASE, problems

FILLED = BASE + "triggers:\n  - id: tp\n    when: {filled: {order: entry}}\n"
TP = '    place: {id: tp, symbol: "005930", side: sell, from_fill: entry, price: "+3%"}\n'
TRAIL = BASE + "triggers:\n  - id: ts\n"
LEG_B = '  b: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "09:00:05"}\n'


@pytest.mark.parametrize(
    "text",
    [
        FILLED + TP,
        FILLED + TP.replace('"+3%"', '"-1.5%"'),
        FILLED + TP.replace('"+3%"', '"+5 ticks"'),
        FILLED + '    place: {id: tp, symbol: "005930", side: sell, from_fill: entry, '
        'type: stop_limit, stop_price: "-2%", price: "-3%"}\n',
        FILLED
        + '    place: {id: tp, symbol: "005930", side: sell, from_fill: entry, price: 72000}\n',
    ],
)
def test_issue16_item1_fill_relative_prices_are_accepted(tmp_path: Path, text: str) -> None:
    assert problems(tmp_path, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            FILLED + TP.replace("from_fill: entry", "qty: 10"),
            [
                "13:67: $.triggers[0].place.price: +3% is relative to a fill: add from_fill "
                "(the order whose average fill price it counts from), or write won"
            ],
        ),
        (
            FILLED + TP.replace("from_fill: entry", "qty: 10, from_fill: entry"),
            [
                "13:56: $.triggers[0].place.qty: with from_fill the qty is what entry filled: "
                "remove qty"
            ],
        ),
        (
            FILLED.replace("{filled:", "{partially_filled:") + TP,
            [
                "12:5: $.triggers[0].when: a place from_fill: entry is sized and priced from "
                "that fill: write when: {filled: {order: entry}} (the fill is then final)"
            ],
        ),
        (
            FILLED + TP.replace("from_fill: entry", "from_fill: entyr"),
            ["13:62: $.triggers[0].place.from_fill: unknown order 'entyr' (orders: entry)"],
        ),
        (
            FILLED + TP.replace('"+3%"', '"3 percent"'),
            [
                "13:76: $.triggers[0].place.price: '3 percent' is not a price: write won as an "
                'integer (70000), or with from_fill an offset from the fill price ("+3%", '
                '"-1.5%", "+5 ticks")'
            ],
        ),
        (
            BASE + 'steps:\n  - at: "10:00"\n' + TP,
            [
                "12:62: $.steps[0].place.from_fill: from_fill is for an order a trigger places "
                "when another order fills (a trigger with when: {filled: {order: entry}})"
            ],
        ),
        (
            FILLED + TP.replace('price: "+3%"', 'type: stop_limit, price: "-3%"'),
            ["13:5: $.triggers[0].place: a stop_limit order needs stop_price (sent as cond_uv)"],
        ),
    ],
)
def test_issue16_item1_fill_relative_refusals(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert problems(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("avg", "offset", "side", "price"),
    [
        (Fraction(70000), "+3%", "sell", 72100),  # exact
        (Fraction(70050), "-2%", "sell", 68700),  # 68,649 rounds up for a sell
        (Fraction(70050), "-2%", "buy", 68600),  # … and down for a buy
        (Fraction(70050), "+5 ticks", "sell", 70600),  # 70,050 → 70,100 first, then +5
        (Fraction(70050), "-5 ticks", "buy", 69500),  # 70,050 → 70,000 first, then -5
        (Fraction(199950), "+1%", "sell", 202000),  # crosses into the 500-won band
        (Fraction(4999), "+1 tick", "sell", 5010),  # 4,999 → 5,000, then a 10-won tick
    ],
)
def test_issue16_item1_fill_price_rounds_the_traders_way(
    avg: Fraction, offset: str, side: str, price: int
) -> None:
    from planrunner.plan.rules import parse_offset

    o = parse_offset(offset)
    got = ticks.offset_price(avg, percent=o.percent, ticks=o.ticks, up=side == "sell")
    assert got == price and ticks.on_grid(got)


@pytest.mark.parametrize(
    "when",
    [
        '{trailing: {symbol: "005930", below_high: "2%"}}',
        '{trailing: {symbol: "005930", below_high: "1.5%"}}',
        '{trailing: {symbol: "005930", above_low: "5 ticks"}}',
    ],
)
def test_issue16_item2_trailing_conditions_are_accepted(tmp_path: Path, when: str) -> None:
    assert problems(tmp_path, TRAIL + f"    when: {when}\n    cancel: {{order: entry}}\n") == []


@pytest.mark.parametrize(
    ("when", "extra", "expected"),
    [
        (
            '{trailing: {symbol: "005930", below_high: "2%", above_low: "1%"}}',
            "",
            "12:12: $.triggers[0].when.trailing: a trailing condition needs exactly one of "
            "below_high (a sell stop) or above_low (a buy stop)",
        ),
        (
            '{all: [{trailing: {symbol: "005930", below_high: "5 ticks"}}, '
            "{filled: {order: entry}}]}",
            "",
            "12:19: $.triggers[0].when.all[0].trailing: a trailing condition stands alone (its "
            "level follows the price since the trigger armed): use it as the whole when of its "
            "own trigger",
        ),
        (
            '{trailing: {symbol: "005930", below_high: "2%"}}',
            "    repeat: true\n",
            "13:13: $.triggers[0].repeat: a trailing stop fires once (its level would have to "
            "start again): remove repeat",
        ),
        (
            '{trailing: {symbol: "005930", below_high: "0%"}}',
            "",
            "12:53: $.triggers[0].when.trailing.below_high: the trailing distance must be more "
            "than 0",
        ),
        (
            '{trailing: {symbol: "005930", above_low: "30%"}}',
            "",
            "12:52: $.triggers[0].when.trailing.above_low: 30% is beyond the day's price limits "
            "(±30%): the level could never be reached",
        ),
        (
            '{trailing: {symbol: "005930", below_high: "-2%"}}',
            "",
            "12:53: $.triggers[0].when.trailing.below_high: '-2%' is not a trailing distance: "
            'write a percent ("2%", "1.5%") or ticks ("5 ticks")',
        ),
    ],
)
def test_issue16_item2_trailing_refusals(
    tmp_path: Path, when: str, extra: str, expected: str
) -> None:
    text = TRAIL + f"    when: {when}\n" + extra + "    cancel: {order: entry}\n"
    assert problems(tmp_path, text) == [expected]


def test_issue16_item3_oco_group_is_accepted(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + LEG_B + "oco:\n  - {id: g, legs: [entry, b]}\n") == []
    # Legs from the same fill are the same size.
    legs = (
        FILLED
        + TP
        + (
            "  - id: sl\n    when: {filled: {order: entry}}\n"
            '    place: {id: sl, symbol: "005930", side: sell, from_fill: entry, '
            'type: stop_limit, stop_price: "-2%", price: "-3%"}\n'
            "oco:\n  - {id: exit, legs: [tp, sl]}\n"
        )
    )
    assert problems(tmp_path, legs) == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            LEG_B.replace("qty: 10", "qty: 5") + "oco:\n  - {id: g, legs: [entry, b]}\n",
            ["12:13: $.oco[0].legs: the legs must be the same size: entry is 10, b is 5"],
        ),
        (
            LEG_B.replace("side: buy", "side: sell") + "oco:\n  - {id: g, legs: [entry, b]}\n",
            [
                "12:13: $.oco[0].legs: the legs must be the same shares: entry is buy 005930, "
                "b is sell 005930"
            ],
        ),
        (
            "oco:\n  - {id: g, legs: [entry, x]}\n",
            ["11:27: $.oco[0].legs[1]: unknown order 'x' (orders: entry)"],
        ),
        (
            "oco:\n  - {id: g, legs: [entry, entry]}\n",
            ["11:27: $.oco[0].legs[1]: the two legs are the same order 'entry'"],
        ),
        (
            "oco:\n  - {id: g, legs: [entry, entry, entry]}\n",
            ["11:13: $.oco[0].legs: legs needs two plan orders: [take-profit, stop]"],
        ),
        (
            LEG_B
            + LEG_B.replace("b:", "c:")
            + "oco:\n  - {id: g, legs: [entry, b]}\n  - {id: h, legs: [c, b]}\n"
            + "  - {id: g, legs: [c, entry]}\n",
            [
                "14:23: $.oco[1].legs[1]: order 'b' is already a leg of oco g",
                "15:10: $.oco[2].id: oco id 'g' is already used at $.oco[0]",
            ],
        ),
    ],
)
def test_issue16_item3_oco_refusals(tmp_path: Path, extra: str, expected: list[str]) -> None:
    assert problems(tmp_path, BASE + extra) == expected
