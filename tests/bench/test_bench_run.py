"""bench/run.py and the summary every bench hands it (bench/summary.py).

No bench is run here and no timing is asserted: `--help` only, the JSON the summary
writer produces, and the Summary section run.py puts at the top of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from tests.support.bench import BENCH, load, output


def test_run_help() -> None:
    out = output("run", "--help", timeout=60)
    for option in ("--full", "--only", "--logs", "--timeout", "--no-write"):
        assert option in out


def test_run_rejects_an_unknown_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        load("run").main(["--only", "nosuch", "--no-write"])
    assert e.value.code == 2
    assert "unknown bench nosuch" in capsys.readouterr().err


def test_every_bench_takes_summary() -> None:
    run = load("run")
    for bench in run.BENCHES:
        text = (BENCH / f"{bench.name}.py").read_text(encoding="utf-8")
        if "feedrig.parse(" in text:  # the feed benches take and write it through the rig
            text = (BENCH / "feedrig.py").read_text(encoding="utf-8")
        assert "summary.add_option(ap)" in text, bench.name
        assert re.search(r"summary\.write\(\s*args\.summary,", text), bench.name


def test_summary_writes_the_documented_json(tmp_path: Path) -> None:
    summary = load("summary")
    ap = argparse.ArgumentParser()
    summary.add_option(ap)
    path = tmp_path / "s.json"
    args = ap.parse_args(["--summary", str(path)])
    rows = [
        summary.figure("client: p50 per call", "< 2 ms", "1.30 ms", True),
        summary.figure("firing: order lateness p99", "< 5 ms", "18.87 ms", False),
        summary.figure("chaos: time", "200 runs < 10 min", "34 s for 20 runs", None),
    ]
    summary.write(args.summary, rows)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == [
        {"figure": "client: p50 per call", "goal": "< 2 ms", "measured": "1.30 ms", "met": True},
        {
            "figure": "firing: order lateness p99",
            "goal": "< 5 ms",
            "measured": "18.87 ms",
            "met": False,
        },
        {
            "figure": "chaos: time",
            "goal": "200 runs < 10 min",
            "measured": "34 s for 20 runs",
            "met": None,
        },
    ]
    assert summary.read(path) == data
    summary.write(None, rows)  # no --summary: nothing written, no error


def test_summary_refuses_other_shapes(tmp_path: Path) -> None:
    summary = load("summary")
    with pytest.raises(TypeError):
        summary.figure("x", "y", "z", 1)
    for bad in (
        {"figure": "x"},
        [{"figure": "x", "goal": "y", "measured": "z"}],
        [{"figure": "x", "goal": "y", "measured": 3, "met": True}],
        [{"figure": "x", "goal": "y", "measured": "z", "met": "yes"}],
    ):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(ValueError):
            summary.read(path)


def test_own_argv_drops_summary_and_no_write() -> None:
    summary = load("summary")
    argv = ["--trials", "20", "--summary", "/tmp/x.json", "--no-write", "--summary=/tmp/y"]
    assert summary.own_argv(argv) == ["--trials", "20"]


def test_summary_section_goes_first_and_keeps_the_rest(tmp_path: Path) -> None:
    run = load("run")
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Validate\n\nfigures\n\n## Client\n\nmore\n")
    run.write_section("table one\n", doc)
    assert doc.read_text() == (
        "# Performance\n\n## Summary\n\ntable one\n\n## Validate\n\nfigures\n\n## Client\n\nmore\n"
    )
    run.write_section("table two\n", doc)  # rewritten in place
    assert doc.read_text() == (
        "# Performance\n\n## Summary\n\ntable two\n\n## Validate\n\nfigures\n\n## Client\n\nmore\n"
    )


def test_report_has_one_table_with_the_commands() -> None:
    run = load("run")
    summary = load("summary")
    rows = [
        (summary.figure("a | b", "< 2 ms", "1 ms", True), "python bench/client.py --rounds 200"),
        (summary.figure("c", "0", "0", None), "python bench/chaos.py --runs 20"),
    ]
    text = run.report(rows, False, "nproc 2", ("1.00", "2.00"), 12.0, ["client", "chaos"])
    assert "| figure | goal | measured | met | command |" in text
    assert "| a \\| b | < 2 ms | 1 ms | yes | `python bench/client.py --rounds 200` |" in text
    assert "| c | 0 | 0 | – | `python bench/chaos.py --runs 20` |" in text
    assert "client 200 rounds" in text and "chaos 20 runs" in text
    assert text.count("| figure |") == 1
