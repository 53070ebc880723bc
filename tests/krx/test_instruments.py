"""Tick grids by instrument kind (ETF/ETN: 1 won under 2,000, 5 won from 2,000) and
where the kind comes from: the plan's `instrument`, the built-in table, else a stock."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from planrunner.cli import cli
from planrunner.krx import instruments, ticks
from planrunner.model import OrderSpec
from tests.support.plan_text import BASE, problems


@pytest.mark.parametrize(
    ("kind", "price", "tick"),
    [
        ("etf", 1_999, 1),
        ("etf", 2_000, 5),
        ("etf", 45_000, 5),
        ("etf", 600_000, 5),
        ("etn", 1_500, 1),
        ("etn", 10_005, 5),
        ("stock", 45_000, 50),
        ("stock", 600_000, 1_000),
    ],
)
def test_issue15_item1_tick_by_kind(kind: str, price: int, tick: int) -> None:
    assert ticks.tick_size(price, kind) == tick


def test_issue15_item1_etf_steps_cross_the_2000_boundary() -> None:
    assert ticks.step(1_998, 3, "etf") == 2_005  # 1,999, 2,000, then 5 won
    assert ticks.step(2_005, -2, "etf") == 1_999  # 2,000, then the 1-won band
    assert ticks.step(40_000, 1, "etf") == 40_005  # a stock would go to 40,050
    assert ticks.step(40_000, 1, "stock") == 40_050
    assert ticks.on_grid(40_005, "etf") and not ticks.on_grid(40_005)
    assert ticks.nearest_valid(40_003, "etn") == (40_000, 40_005)


def test_issue15_item1_kind_from_table_then_declared_then_stock() -> None:
    assert instruments.kind_of("069500") == "etf"  # KODEX 200, in the table
    assert instruments.kind_of("005930") == "stock"
    assert instruments.kind_of("999998") == "stock"  # unknown: checked as a stock
    assert instruments.kind_of("999998", "etn") == "etn"  # the plan's word wins
    spec = OrderSpec(id="a", symbol="069500", side="buy", qty=1, price=40_005)
    assert instruments.order_kind(spec) == "etf"


ETF = BASE.replace('"005930"', '"069500"').replace("price: 70000", "price: 40005")


def test_issue15_item1_etf_price_valid_in_plan(tmp_path: Path) -> None:
    assert problems(tmp_path, ETF) == []
    # the same price on a stock is off its grid
    stock = ETF.replace('"069500"', '"005930"')
    assert problems(tmp_path, stock) == [
        "8:12: $.orders.entry.price: 40005 is not on the KRX tick grid (tick 50 at this "
        "price): nearest valid prices are 40000 and 40050"
    ]


def test_issue15_item1_declared_etn_and_its_ladder(tmp_path: Path) -> None:
    text = BASE.replace('"005930"', '"550001"').replace("price: 70000", "price: 10005")
    text += "    instrument: etn\n"
    assert problems(tmp_path, text) == []
    off = text.replace("price: 10005", "price: 10003")
    assert problems(tmp_path, off) == [
        "8:12: $.orders.entry.price: 10003 is not on the KRX ETN tick grid (tick 5 at this "
        "price): nearest valid prices are 10000 and 10005"
    ]
    ladder = (
        text
        + "steps:\n  - ladder: {order: entry, every: 5m, by: +1 tick, from: '09:30', "
        + "until: '09:40', limit: 10015}\n"
    )
    assert problems(tmp_path, ladder) == []


def test_issue15_item1_show_steps_an_etf_by_its_tick(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        ETF
        + "steps:\n  - ladder: {order: entry, every: 5m, by: +1 tick, from: '09:30', "
        + "until: '09:40', limit: 40100}\n",
        encoding="utf-8",
    )
    out = CliRunner().invoke(cli, ["show", str(f), "--date", "2026-11-26", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert '"mdfy_uv": "40010"' in out.output  # 40,005 + 5 won, not 40,005 + 50
    assert '"mdfy_uv": "40020"' in out.output


def test_issue15_item1_validate_warns_for_an_unknown_code(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(BASE.replace('"005930"', '"999998"'), encoding="utf-8")
    out = CliRunner().invoke(cli, ["validate", str(f)])
    assert out.exit_code == 0, out.output
    assert "999998 is not in the instrument table" in out.output
    f.write_text(BASE.replace('"005930"', '"999998"') + "    instrument: stock\n")
    out = CliRunner().invoke(cli, ["validate", str(f)])
    assert "instrument table" not in out.output
