"""The day's report: figures from real rehearsals checked against the simulator's own
order book, the HTML page parsed, the P&L arithmetic on a hand-made journal."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from planrunner.app.launch import RunOptions, run_plan
from planrunner.app.report import Rates, figures, load_rates, plan_report, render_html
from planrunner.cli.group import cli
from planrunner.engine.journal import replay_lines
from planrunner.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
RATES = Rates(fee=0.00015, tax=0.002, source="test")


def _rehearse(name: str, tmp: Path) -> tuple[Any, Path]:
    keep: dict[str, Any] = {}
    opts = RunOptions(state_dir=tmp, scenario=ROOT / "plans" / "scenarios" / name, speed=4000)
    result = run_plan(
        ROOT / "plans" / name,
        opts,
        emit=lambda e: None,
        stop=threading.Event(),
        on_target=lambda t: keep.update(target=t),
    )
    assert result.exit_code == 0, result.attention
    [journal] = tmp.glob("*/*.sim.jsonl")
    return keep["target"].simulator, journal


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each plan rehearsed once for the module (a rehearsal takes seconds)."""
    done: dict[str, tuple[Any, Path]] = {}

    def get(name: str) -> tuple[Any, Path]:
        if name not in done:
            done[name] = _rehearse(name, tmp_path_factory.mktemp(name.split(".")[0]))
        return done[name]

    return get


def _report(name: str, journal: Path) -> dict[str, Any]:
    day = dt.date.fromisoformat(journal.name.split(".")[0])
    return plan_report(
        ROOT / "plans" / name, state_dir=journal.parents[1], day=day, rates=RATES, journal=journal
    )


def _book_by_symbol(sim: Any) -> dict[str, tuple[int, int]]:
    """Filled quantity and value per symbol, from the simulator's own fills."""
    out: dict[str, tuple[int, int]] = {}
    for o in sim.orders().values():
        qty, value = out.get(o.symbol, (0, 0))
        out[o.symbol] = (
            qty + sum(f.qty for f in o.fills),
            value + sum(f.qty * f.price for f in o.fills),
        )
    return out


EXAMPLES = sorted(p.name for p in (ROOT / "plans").glob("*.yaml"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_issue17_report_figures_match_the_simulators_book(name, rehearsed):
    """Acceptance 1: every example plan's rehearsal, its report's figures checked against
    the simulator's own book (quantities, values) and the rates (fees, taxes)."""
    sim, journal = rehearsed(name)
    fig = _report(name, journal)
    book = _book_by_symbol(sim)
    for symbol, s in fig["symbols"].items():
        orders = [o for o in fig["orders"] if o["order"] in s["orders"]]
        assert sum(o["filled"] for o in orders) == book[symbol][0]
        assert sum(o["value"] for o in orders) == book[symbol][1]
    # The lineage is the broker's: every number the report names exists in the book.
    numbers = {li["ord_no"] for o in fig["orders"] for li in o["lineage"]}
    assert numbers <= set(sim.orders())
    for o in fig["orders"]:
        assert o["fee"] == int(o["value"] * RATES.fee)
        assert o["tax"] == (int(o["value"] * RATES.tax) if o["side"] == "sell" else 0)
    assert fig["mode"] == "sim" and fig["sha256"] and fig["attention"] == []


def test_issue17_open_ladder_hand_computed(rehearsed):
    _sim, journal = rehearsed("open-ladder.yaml")
    [entry] = _report("open-ladder.yaml", journal)["orders"]
    # The scenario fills 4 at the 70,400 rung; the ladder's prices are its modifies.
    assert (entry["filled"], entry["qty"], entry["avg_price"]) == (4, 10, 70400)
    assert entry["value"] == 281_600 and entry["fee"] == 42 and entry["tax"] == 0
    prices = [li["price"] for li in entry["lineage"] if li["kind"] in ("place", "modify")]
    assert prices == [70000, *range(70100, 70800, 100)]
    assert entry["lineage"][-1]["kind"] == "cancel"


def test_issue17_emergency_close_hand_computed(rehearsed):
    """Acceptance 1, the second scenario: 6 of 20 fill at the 205,000 offer at 10:00;
    the stop at 12:00 sells the 14 left at market, 197,500 (the scenario's path)."""
    _sim, journal = rehearsed("emergency-close.yaml")
    fig = _report("emergency-close.yaml", journal)
    [exit_] = fig["orders"]
    assert [(f["qty"], f["price"]) for f in exit_["fills"]] == [(6, 205_000), (14, 197_500)]
    # 6 × 205,000 + 14 × 197,500 = 1,230,000 + 2,765,000 = 3,995,000; / 20 = 199,750.
    assert (exit_["filled"], exit_["value"], exit_["avg_price"]) == (20, 3_995_000, 199_750)
    # Fee 0.015 %: 599.25 → 599 won; tax 0.2 % on the sell: 7,990 won.
    assert (exit_["fee"], exit_["tax"]) == (599, 7_990)
    # Nothing was both bought and sold within the plan: no realized P&L.
    pnl = fig["symbols"]["000660"]["pnl"]
    assert (pnl["sold"], pnl["bought"], pnl["matched"], pnl["net"]) == (20, 0, 0, 0)
    assert pnl["avg_sell"] == 199_750
    # The price path the trigger poll saw: from 203,000 down to the 197,500 it fired on
    # (the minute at 205,000 is seen only if a poll fell in it: not asserted).
    path = [o["price"] for o in fig["price_observations"]["000660"]]
    assert path[0] == 203_000 and path[-1] == 197_500


def test_issue17_emergency_close_marks_trigger_and_market_switch(rehearsed):
    _sim, journal = rehearsed("emergency-close.yaml")
    fig = _report("emergency-close.yaml", journal)
    [exit_] = fig["orders"]
    assert exit_["market_switch"] and [t["trigger"] for t in fig["triggers"]] == ["stop"]
    assert exit_["filled"] == 20
    page = render_html(fig)
    assert ">T</text>" in page and ">M</text>" in page


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.svg_labels: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.links.append(a[key] or "")
        if tag == "svg":
            self.svg_labels.append(a.get("aria-label") or "")


def test_issue17_html_is_self_contained_with_a_chart_per_symbol(rehearsed):
    _sim, journal = rehearsed("emergency-close.yaml")
    fig = _report("emergency-close.yaml", journal)
    page = render_html(fig)
    parser = _Page()
    parser.feed(page)
    assert sorted(parser.svg_labels) == sorted(fig["symbols"])
    assert not [u for u in parser.links if re.match(r"(?i)\s*(https?:)?//", u)]
    assert parser.tags.count("table") >= 2 + len(fig["orders"])
    assert "<script" not in page and len(page) < 100_000
    assert fig["price_observations"] and 'class="price"' in page


def test_issue17_json_output_equals_the_html_figures(rehearsed, tmp_path):
    _sim, journal = rehearsed("open-ladder.yaml")
    day = journal.name.split(".")[0]
    plan = str(ROOT / "plans" / "open-ladder.yaml")
    common = [plan, "--state-dir", str(journal.parents[1]), "--date", day, "--fee-rate", "0.00015"]
    common += ["--tax-rate", "0.002"]
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    runner = CliRunner()
    a = runner.invoke(cli, ["report", *common, "--format", "json", "--out", str(out_json)])
    b = runner.invoke(cli, ["report", *common, "--out", str(out_html)])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["orders"][0]["value"] == 281_600
    expected = render_html(data)
    assert out_html.read_text(encoding="utf-8") == expected


def _journal(*recs: dict[str, Any]) -> list[str]:
    start = {
        "type": "start",
        "format": 2,
        "mode": "sim",
        "env": "sim",
        "file": "p.yaml",
        "sha256": "ab",
        "run_start": "2026-03-03T09:00:00+09:00",
        "t": "x",
    }
    return [json.dumps(r) for r in (start, *recs, {"type": "stop", "exit_code": 0, "t": "y"})]


def _placed(order: str, api: str, qty: int, price: int, ord_no: str) -> list[dict[str, Any]]:
    job = f"{order}.place"
    body = {"stk_cd": "005930", "ord_qty": str(qty), "ord_uv": str(price), "trde_tp": "0"}
    at = "2026-03-03T09:00:05+09:00"
    return [
        {"type": "intent", "job": job, "req": 0, "order": order, "kind": "place", "api_id": api,
         "body": body, "at": at, "t": at},
        {"type": "ack", "job": job, "req": 0, "order": order, "kind": "place", "ord_no": ord_no,
         "at": at, "t": at},
        {"type": "done", "job": job, "t": at},
    ]  # fmt: skip


def _fill(order: str, filled: int, value: int, at: str) -> dict[str, Any]:
    return {"type": "fill", "order": order, "ord_no": "x", "filled": filled, "remaining": 0,
            "at": f"2026-03-03T{at}+09:00", "value": value, "t": "z"}  # fmt: skip


def test_issue17_realized_pnl_arithmetic_on_a_hand_made_journal():
    lines = _journal(
        *_placed("buy", "kt10000", 10, 70000, "0000001"),
        *_placed("sell", "kt10001", 6, 71000, "0000002"),
        _fill("buy", 4, 4 * 70000, "09:10:00"),
        _fill("buy", 10, 4 * 70000 + 6 * 69900, "09:20:00"),  # 6 more at 69,900
        _fill("sell", 6, 6 * 71000, "09:30:00"),
    )
    fig = figures(replay_lines(lines), day=dt.date(2026, 3, 3), rates=RATES)
    buy, sell = fig["orders"]
    assert [f["price"] for f in buy["fills"]] == [70000, 69900]
    assert buy["avg_price"] == 69940 and buy["value"] == 699_400
    assert (buy["fee"], buy["tax"]) == (104, 0)  # 699,400 × 0.015 % = 104.91
    assert (sell["fee"], sell["tax"]) == (63, 852)  # 426,000 × 0.015 %, × 0.2 %
    pnl = fig["symbols"]["005930"]["pnl"]
    # 6 matched: bought at 69,940 average (419,640), sold at 71,000 (426,000).
    assert (pnl["matched"], pnl["gross"]) == (6, 6360)
    assert pnl["costs"] == int(419_640 * 0.00015) + int(426_000 * 0.00015) + int(426_000 * 0.002)
    assert pnl["net"] == 6360 - pnl["costs"] == 6360 - (62 + 63 + 852)


def test_issue17_item4_rates_by_settlement_year_with_sources(tmp_path):
    assert load_rates(dt.date(2025, 6, 2)).tax == 0.0015
    assert load_rates(dt.date(2026, 6, 2)).tax == 0.002
    assert load_rates(dt.date(2027, 6, 2)).tax == 0.002  # in force until a change
    # The tax is the settlement day's: T+2 trading days (12-31 and 01-01 are closed).
    assert load_rates(dt.date(2025, 12, 26)).tax == 0.0015  # settles 2025-12-30
    assert load_rates(dt.date(2025, 12, 29)).tax == 0.002  # settles 2026-01-02
    rates = load_rates(dt.date(2026, 6, 2))
    assert rates.fee == 0.00015
    assert "Kiwoom" in rates.fee_source and "Enforcement Decree" in rates.tax_source
    assert "KOSPI 0.05 % transaction tax + 0.15 % rural special tax" in rates.tax_source
    assert "2025-07-31" in rates.tax_source  # the 2026 row names its own source
    assert "Enforcement Decree" in load_rates(dt.date(2025, 6, 2)).tax_source


def test_issue17_item4_rates_overridden_plan_then_file_then_options(tmp_path):
    day = dt.date(2026, 6, 2)
    assert load_rates(day, plan={"tax": 0.0018}).tax == 0.0018
    f = tmp_path / "rates.json"
    f.write_text('{"fee": 0.0001}', encoding="utf-8")
    rates = load_rates(day, plan={"fee": 0.0003, "tax": 0.0018}, file=f, tax=0.001)
    assert (rates.fee, rates.tax) == (0.0001, 0.001) and "overridden" in rates.source
    assert rates.fee_source == f"overridden by {f}" and rates.tax_source == "overridden by options"
    f.write_text('{"fees": 1}', encoding="utf-8")
    with pytest.raises(UsageError):
        load_rates(day, file=f)
    with pytest.raises(UsageError):
        load_rates(day, fee=0.5)


def test_issue17_item4_a_plans_rates_section_reaches_the_report(rehearsed, tmp_path):
    _sim, journal = rehearsed("open-ladder.yaml")
    text = (ROOT / "plans" / "open-ladder.yaml").read_text(encoding="utf-8")
    plan = tmp_path / "open-ladder.yaml"
    plan.write_text(text + "\nrates: {fee: 0.0001, tax: 0.001}\n", encoding="utf-8")
    day = journal.name.split(".")[0]
    out = tmp_path / "r.json"
    args = ["report", str(plan), "--state-dir", str(journal.parents[1]), "--date", day]
    result = CliRunner().invoke(cli, [*args, "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["rates"]["fee"], data["rates"]["tax"]) == (0.0001, 0.001)
    [entry] = data["orders"]
    assert entry["value"] == 281_600 and entry["fee"] == 28  # 281,600 × 0.01 %
    # The option still wins over the plan.
    result = CliRunner().invoke(
        cli, [*args, "--format", "json", "--out", str(out), "--fee-rate", "0.0002"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["orders"][0]["fee"] == 56
    plan.write_text(text + "\nrates: {tax: 0.5}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, [*args, "--format", "json", "--out", str(out)])
    assert result.exit_code != 0 and "rates" in result.output


def test_issue17_a_rehearsal_writes_its_report_and_prints_the_path(tmp_path):
    plan = ROOT / "plans" / "open-ladder.yaml"
    scenario = ROOT / "plans" / "scenarios" / "open-ladder.yaml"
    args = ["run", str(plan), "--scenario", str(scenario), "--speed", "4000"]
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:  # `run` installs its own handlers: give the test process its own back
        result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path)])
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1].removeprefix("report: "))
    assert path.parent.parent == tmp_path and path.suffix == ".html"
    assert path.with_suffix(".jsonl").exists()
    assert "<svg" in path.read_text(encoding="utf-8")


def test_issue17_a_partial_cancel_keeps_the_limit_line_going():
    def cancel(partial: bool) -> list[dict[str, Any]]:
        at = "2026-03-03T10:00:00+09:00"
        job = "buy.cancel@10:00"
        return [
            {"type": "intent", "job": job, "req": 0, "order": "buy", "kind": "cancel",
             "api_id": "kt10003", "body": {"cncl_qty": "4"}, "at": at, "t": at},
            {"type": "ack", "job": job, "req": 0, "order": "buy", "kind": "cancel",
             "ord_no": "0000002", "at": at, "t": at, "partial": partial},
        ]  # fmt: skip

    for partial in (True, False):
        lines = _journal(*_placed("buy", "kt10000", 10, 70000, "0000001"), *cancel(partial))
        fig = figures(replay_lines(lines), day=dt.date(2026, 3, 3), rates=RATES)
        [points] = re.findall(r'<polyline points="([^"]+)"', render_html(fig))
        # Placed, still there at the cancel, then (partial only) on to the chart's end.
        assert len(points.split()) == (3 if partial else 2)


def test_issue17_a_replace_orders_its_new_total():
    at = "2026-03-03T10:30:00+09:00"
    body = {"stk_cd": "005930", "ord_qty": "16", "ord_uv": "69600", "trde_tp": "0"}
    lines = _journal(
        *_placed("bid", "kt10000", 10, 69500, "0000001"),
        _fill("bid", 4, 4 * 69500, "10:00:00"),
        {"type": "intent", "job": "bid.replace", "req": 1, "order": "bid", "kind": "replace",
         "api_id": "kt10000", "body": body, "at": at, "t": at},
        {"type": "ack", "job": "bid.replace", "req": 1, "order": "bid", "kind": "replace",
         "ord_no": "0000003", "at": at, "t": at},
    )  # fmt: skip
    [bid] = figures(replay_lines(lines), day=dt.date(2026, 3, 3), rates=RATES)["orders"]
    assert (bid["filled"], bid["qty"]) == (4, 20)  # 4 filled before + 16 newly ordered
    assert [li["price"] for li in bid["lineage"]] == [69500, 69600]


def test_issue17_item5_report_of_a_relative_plan_run_on_a_closed_day(tmp_path):
    """A plan with relative times run for real on a Saturday journals under Saturday;
    `report` must find that journal as `status` does, not look for Monday's."""
    from planrunner.app.status import journal_day
    from planrunner.clock import SEOUL
    from planrunner.plan.rules import load_plan

    saturday = dt.datetime(2026, 12, 5, 10, 0, tzinfo=SEOUL)
    path = ROOT / "plans" / "quick-relative.yaml"
    plan = load_plan(path)
    folder = tmp_path / plan.journal_name
    folder.mkdir()
    start = {
        "type": "start", "format": 3, "mode": "dry-run", "env": "mock", "file": str(path),
        "sha256": "ab", "run_start": "2026-12-05T10:00:00+09:00", "t": "x",
    }  # fmt: skip
    stop = {"type": "stop", "exit_code": 0, "t": "y"}
    (folder / "2026-12-05.mock.jsonl").write_text(
        "\n".join(json.dumps(r) for r in (start, stop)) + "\n", encoding="utf-8"
    )
    assert journal_day(plan, state_dir=tmp_path, day=None, env=None, now=saturday) == (
        dt.date(2026, 12, 5)
    )
    fig = plan_report(path, state_dir=tmp_path, day=None, now=saturday)
    assert fig["day"] == "2026-12-05" and fig["journal"].endswith("2026-12-05.mock.jsonl")
    # Without a journal of that day, a rehearsal's (the next trading day) is read.
    (folder / "2026-12-05.mock.jsonl").rename(folder / "2026-12-07.sim.jsonl")
    fig = plan_report(path, state_dir=tmp_path, day=None, now=saturday)
    assert fig["day"] == "2026-12-07"
