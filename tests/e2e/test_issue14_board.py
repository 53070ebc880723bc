"""Several plans in one process end on one combined board (issue 14): a row per plan
with its orders, filled/ordered, average fill price, what is left open, its state and
its exit code, and the process's exit code explained; `status` of the same plans ends on
the same board from the journals alone. And what concerns every plan (the shared
feed's drop and return) is said once for the process, not once per plan. Real
processes over 127.0.0.1: `planrunner sim` and `planrunner run`; every figure checked
against the simulator's own order book."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback import SimProcess, run_cli
from tests.support.plan_text import reprice_then_cancel

# At the limit: 3 fill on arrival; the reprice fills 3 more on arrival; the rest is cancelled.
SCENARIO = """\
symbols:
  "005930": {name: 삼성전자, base: 69000, walk: false, fill: {mode: partial, max_qty: 3}}
"""


def _plans(tmp_path: Path, *, place: int = 1) -> list[str]:
    out = []
    for name in ("alpha", "beta"):
        p = tmp_path / f"{name}.yaml"
        text = reprice_then_cancel(
            name, price=69000, place=f"+{place}s", modify=f"+{place + 2}s", cancel=f"+{place + 4}s"
        )
        p.write_text(text, encoding="utf-8")
        out.append(str(p))
    return out


@pytest.fixture
def sim(tmp_path: Path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    s = SimProcess("--scenario", str(scenario))
    yield s
    s.close()


def _truth(sim: SimProcess) -> dict[str, tuple[int, int]]:
    """(filled, value) per plan from the simulator's book: each plan's numbers are the
    ones its journal's lineage names."""
    fills: dict[str, tuple[int, int]] = {}
    for o in sim.get("orders")["orders"]:
        got = sum(f["qty"] for f in o.get("fills", []))
        value = sum(f["qty"] * f["price"] for f in o.get("fills", []))
        fills[str(int(o["ord_no"]))] = (got, value)
    return fills


def _plan_truth(lineage: list[dict[str, Any]], book: dict[str, tuple[int, int]]) -> tuple[int, int]:
    numbers = [str(int(x["ord_no"])) for x in lineage]
    return sum(book[n][0] for n in numbers), sum(book[n][1] for n in numbers)


def test_issue14_several_plans_end_on_one_board_and_status_shows_the_same(sim, tmp_path):
    plans = _plans(tmp_path)
    state = str(tmp_path / "s")
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", state, "--no-feed"]
    done = run_cli("run", *plans, *args, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["exit_code"] == 0 and last["why"] == "every plan did its work"
    book = _truth(sim)
    board = {r["plan"]: r for r in last["board"]}
    assert list(board) == ["alpha", "beta"]
    for each in last["plans"]:
        [entry] = each["summary"]["orders"]
        filled, value = _plan_truth(entry["lineage"], book)
        assert filled > 3  # fills on two numbers
        row = board[each["plan"]]
        assert (row["orders"], row["ordered"], row["filled"], row["remaining"]) == (
            1,
            10,
            filled,
            0,
        )
        assert row["avg_fill_price"] == [
            {"symbol": "005930", "side": "buy", "filled": filled, "avg_fill_price": value // filled}
        ]
        assert (row["state"], row["attention"], row["exit_code"]) == ("done", 0, 0)

    shown = run_cli("status", *plans, "--state-dir", state, "--format", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    data = json.loads(shown.stdout)
    assert data["board"] == last["board"]  # the journals alone tell the same
    for each in data["plans"]:
        [order] = each["orders"]
        assert (order["remaining"], order["state"]) == (0, "partially filled, rest cancelled")
        fill = each["fills"]["entry"]
        assert fill["remaining"] == 0 and fill["filled"] == board[each["plan"]]["filled"]

    text = run_cli("status", *plans, "--state-dir", state)
    assert text.returncode == 0, text.stdout + text.stderr
    tail = text.stdout.splitlines()[-5:]
    assert tail[0] == "2 plans" and tail[-1] == "exit 0: every plan did its work", tail
    for name in ("alpha", "beta"):
        [row] = [x.split() for x in tail if x.split()[:1] == [name]]
        r = board[name]
        avg = f"{r['avg_fill_price'][0]['avg_fill_price']:,}"
        assert row == [name, "1", f"{r['filled']}/10", avg, "0", "done", "0"], tail


def test_issue14_several_plans_text_run_ends_on_the_board_after_each_summary(sim, tmp_path):
    plans = _plans(tmp_path)
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", str(tmp_path / "s"), "--no-feed"]
    done = run_cli("run", *plans, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # each plan's own summary (its orders' lineage), with no exit line of its own
    assert [x for x in lines if x.startswith("== ")] == [
        f"== alpha ({plans[0]})",
        f"== beta ({plans[1]})",
    ]
    assert [x for x in lines if x.startswith("exit ")] == ["exit 0: every plan did its work"]
    board = lines[lines.index("2 plans") :]
    header = ["plan", "orders", "filled/ordered", "avg", "price", "open", "state", "exit"]
    assert board[1].split() == header
    assert [x.split()[0] for x in board[2:4]] == ["alpha", "beta"]
    assert lines[-1] == "exit 0: every plan did its work"


def test_issue14_a_feed_drop_is_said_once_per_process(sim, tmp_path):
    """Both plans hear the shared feed; its drop (the simulator drops the socket on the
    first order event) and its return are said once, for all plans."""
    sim.post("faults", {"spec": "ws_drop:api=00"})
    plans = _plans(tmp_path, place=6)  # the feed is up long before the first order
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", str(tmp_path / "s")]
    done = run_cli("run", *plans, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    down = [x for x in out if "live feed down" in x]
    back = [x for x in out if "live feed back" in x]
    assert len(down) == 1 and down[0].startswith("[all plans] "), out
    assert len(back) == 1 and back[0].startswith("[all plans] "), out
    assert len([x for x in out if "live feed: ws://" in x]) == 1, out
