"""Issue 12: the broker behaviours the documentation leaves open, as simulator switches."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from planrunner.cli import cli
from planrunner.sim import Simulator
from planrunner.sim.behaviour import Behaviour, BehaviourError
from tests.support.sim import Raw

LIST = {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"}
FILLS = {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0"}


def _open(raw: Raw) -> list[dict[str, str]]:
    orders: list[dict[str, str]] = raw.call("ka10075", LIST)["oso"]
    return orders


def test_defaults_are_unchanged(sim: Simulator, raw: Raw) -> None:
    assert sim.behaviour == Behaviour() and Behaviour().changed() == {}
    raw.buy(price=69_000)
    m = raw.modify("0000001", price="69100")
    assert m["base_orig_ord_no"] == "0000001" and m["mdfy_qty"] == "000000000010"
    c = raw.cancel("0000002", qty="4")
    assert c["cncl_qty"] == "000000000004"
    [row] = _open(raw)
    assert (row["ord_no"], row["orig_ord_no"], row["oso_qty"]) == ("0000002", "0000001", "6")
    assert raw.call("ka10076", FILLS)["cntr"] == []


def test_issue12_switches_each_change_the_answers(sim: Simulator, raw: Raw) -> None:
    sim.set_behaviour(Behaviour.all_unusual())
    raw.buy(price=69_000)
    m = raw.modify("1", price="69100")  # padding none: numbers are read with any padding
    assert m["ord_no"] == "2"
    assert m["base_orig_ord_no"] == "1"  # the number acted on
    assert m["mdfy_qty"] == "000000000000"  # an all-modify answers zeros
    c = raw.cancel("0000002", qty="4")
    assert (c["ord_no"], c["cncl_qty"]) == ("3", "000000000004")
    [row] = _open(raw)  # the rest is listed under the cancel's number, naming the root
    assert (row["ord_no"], row["orig_ord_no"], row["oso_qty"]) == ("3", "1", "6")
    listed = {r["ord_no"] for r in raw.call("ka10076", FILLS)["cntr"]}
    assert listed == {"1", "2", "3"}  # superseded and cancel numbers too
    c = raw.cancel("3")
    assert c["cncl_qty"] == "000000000000"
    assert _open(raw) == []
    assert sum(o.remaining for o in sim.orders().values()) == 0


def test_issue12_switches_parse_and_refuse_unknown_values() -> None:
    assert Behaviour.parse(["remainder=cancel", "all-qty=zeros"]).changed() == {
        "remainder": "cancel",
        "all_qty": "zeros",
    }
    with pytest.raises(BehaviourError, match="remainder"):
        Behaviour.parse({"remainder": "elsewhere"})
    with pytest.raises(BehaviourError, match="unknown broker behaviour"):
        Behaviour.parse(["colour=blue"])
    result = CliRunner().invoke(cli, ["sim", "--broker", "padding=5"])
    assert result.exit_code == 1
    assert "padding" in result.output
