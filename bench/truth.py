"""Broker truth: does each run's final summary say what the broker holds, or flag it?

    python bench/truth.py [--runs 1000] [--seed 0] [--workers 2] [--runs-per-sim 10]
                          [--orders 4] [--timeouts] [--keep] [--json] [--summary FILE]

Each run (seeded from --seed and its number) writes a plan of `--orders` orders, one
symbol each, placed and then given 1-3 steps (bench/reliability.py `make_plan`: modifies
with absolute and relative prices, qty trims, partial and full cancels, `market`), and
runs it once against a `planrunner sim --broker NAME=VALUE ...` process on 127.0.0.1
under one combination of the broker behaviours the documentation leaves open
(planrunner/sim/behaviour.py). Run k uses combination k mod 8: today's defaults, each
switch alone away from its default, then every switch away from its default at once (a
worker starts a fresh simulator when the combination changes, i.e. nearly every run).
Each run also gets 1-2 faults picked as bench/faults.py picks them (rate limits, token
expiry, 5xx and 1999 with and without commit, dropped connections, latency, connection
refused, an identical order placed by hand); `--timeouts` adds latency past the client's
10 s timeout (each such run lasts 15-30 s). The runner is `python -m tests.support.entry
run PLAN --dry-run --base-url PROXY --state-dir D --format json` with its default settle
time.

Truth, per plan order: the simulator's `/_sim/orders` rows on the order's symbol (the
hand-placed order left out): open = the sum of their remaining quantities, filled = the
sum of their fills, and the state those imply (open, partially filled, filled, cancelled,
not placed). The run's summary (`--format json`) gives per order filled, remaining
(`open`) and state, an attention list and an exit code. Each run is one of:
- agrees: every order's filled, open and state equal the book's (attention may be
  non-empty: a fault can make a run flag an order that ended as it should);
- flagged: some order disagrees, and every such order is named under attention (by one of
  its jobs or by the order id; a run-level `run stopped` item names them all) and the run
  exited 2;
- silent: some order disagrees and the run did not flag it (printed in full);
- incomplete: no summary (killed at the 60 s bound, or a bench error; printed in full).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from faults import KINDS, SLOW_KINDS, Faulted, run_with_faults, serve
from reliability import (
    GenPlan,
    add_run_options,
    attention_jobs,
    finish,
    machine,
    new_workdir,
    run_workers,
)

from planrunner.engine.summary import state_name
from planrunner.sim.behaviour import Behaviour

# Today's defaults, each switch alone, all at once.
COMBOS: list[dict[str, str]] = [
    {},
    *(b.changed() for b in Behaviour.each_unusual()),
    Behaviour.all_unusual().changed(),
]


def combo_for(run: int) -> dict[str, str]:
    return COMBOS[run % len(COMBOS)]


def combo_name(combo: dict[str, str]) -> str:
    if not combo:
        return "defaults"
    if combo == COMBOS[-1]:
        return "all non-default"
    return ",".join(f"{k}={v}" for k, v in sorted(combo.items()))


def book_state(rows: list[dict[str, Any]], ordered: int) -> tuple[int, int, str]:
    """(filled, open, state) of one plan order from the simulator's rows on its symbol."""
    filled = sum(int(r["filled"]) for r in rows)
    open_qty = sum(int(r["remaining"]) for r in rows)
    state = state_name(filled, open_qty, ordered) if rows else "not placed"
    return filled, open_qty, state


@dataclass
class Truth:
    run: int
    combo: str = "defaults"
    faults: list[str] = field(default_factory=list)
    fired: int = 0
    exit: str = ""
    group: str = ""  # agrees | flagged | silent | incomplete
    diverged: dict[str, str] = field(default_factory=dict)  # order -> summary vs book
    report: str = ""

    @property
    def bad(self) -> bool:
        return self.group in ("silent", "incomplete")

    @classmethod
    def failed(cls, run: int, why: str) -> Truth:
        combo = combo_name(combo_for(run))
        return cls(run=run, combo=combo, group="incomplete", exit=why, report=f"run {run}: {why}")


def named_orders(gen: GenPlan, summ: dict[str, Any]) -> tuple[set[str], bool]:
    """The plan orders the attention list names (by a job or the order id), and whether
    it holds a run-level stop."""
    named: set[str] = set()
    for item in attention_jobs(summ):
        order = gen.order_of_job(item) or (item if item in gen.orders else None)
        if order is not None:
            named.add(order)
    stopped = any(str(a).startswith("run stopped") for a in summ.get("attention", []))
    return named, stopped


def compare(gen: GenPlan, summ: dict[str, Any], book: list[dict[str, Any]]) -> dict[str, str]:
    """Per plan order whose summary line differs from the book: what each says."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in book:
        rows.setdefault(row["symbol"], []).append(row)
    said = {o.get("order"): o for o in summ.get("orders", [])}
    out: dict[str, str] = {}
    for o in gen.orders.values():
        s = said.get(o.id)
        mine = rows.get(o.symbol, [])
        ordered = int(s["ordered"]) if s and s.get("ordered") else o.qty
        filled, open_qty, state = book_state(mine, ordered)
        if s is None:
            out[o.id] = f"missing from the summary; book filled {filled} open {open_qty} {state}"
            continue
        got = (int(s["filled"]), int(s["remaining"]), str(s["state"]))
        if got != (filled, open_qty, state):
            out[o.id] = (
                f"summary filled {got[0]} open {got[1]} {got[2]!r}; "
                f"book filled {filled} open {open_qty} {state!r} "
                f"(rows {[(r['ord_no'], r['kind'], r['remaining'], r['filled']) for r in mine]})"
            )
    return out


def classify(run: int, combo: dict[str, str], f: Faulted) -> Truth:
    res = Truth(run=run, combo=combo_name(combo), faults=f.faults, fired=f.fired, exit=f.exit)
    summ = f.summary
    if summ is None:
        res.group = "incomplete"
    else:
        res.diverged = compare(f.gen, summ, f.orders)
        named, stopped = named_orders(f.gen, summ)
        flagged = f.rc == 2 and summ.get("exit_code") == 2 and summ.get("attention")
        if not res.diverged:
            res.group = "agrees"
        elif flagged and (stopped or set(res.diverged) <= named):
            res.group = "flagged"
        else:
            res.group = "silent"
    if res.group in ("silent", "incomplete"):
        res.report = "\n".join(
            [
                f"run {run}: {res.group}, {res.exit}, broker {res.combo}, faults {res.faults} "
                f"(fired {res.fired})",
                f"  attention {(summ or {}).get('attention')}",
                *(f"  {o}: {what}" for o, what in sorted(res.diverged.items())),
                *f.context(),
            ]
        )
    return res


def worker(todo: Any, done: list[Truth], args: argparse.Namespace, work: Path) -> None:
    kinds = KINDS + SLOW_KINDS if args.timeouts else KINDS
    serve(
        todo,
        done,
        args,
        work,
        lambda run, sim, proxy: classify(
            run,
            combo_for(run),
            run_with_faults("truth", run, args.seed, sim, proxy, work, args.orders, kinds),
        ),
        Truth.failed,
        broker_for=combo_for,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_options(ap, runs=1000, workers=2)
    ap.add_argument(
        "--timeouts", action="store_true", help="also latency past the client's timeout"
    )
    summary.add_option(ap)
    args = ap.parse_args(argv)
    if args.only:
        args.runs = len(args.only)

    work = new_workdir("truth-")
    command = "python bench/truth.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"truth: {args.runs} runs, seed {args.seed}, {args.workers} workers; {work}")
    print(f"command: {command.strip()}")
    print(f"machine: {machine()}", flush=True)
    done: list[Truth] = []
    elapsed = run_workers(worker, done, args, work)
    by_combo: dict[str, dict[str, int]] = {}
    for r in done:
        c = by_combo.setdefault(r.combo, {"runs": 0, "silent": 0, "flagged": 0})
        c["runs"] += 1
        c[r.group] = c.get(r.group, 0) + 1
    groups = {g: sum(1 for r in done if r.group == g) for g in ("agrees", "flagged", "silent")}
    totals = {
        "runs": len(done),
        "silent_divergences": groups["silent"],
        "flagged_divergences": groups["flagged"],
        "agreeing": groups["agrees"],
        "incomplete": sum(1 for r in done if r.group == "incomplete"),
        "faults_injected": sum(r.fired for r in done),
        "by_broker": by_combo,
        "elapsed_s": round(elapsed, 1),
    }
    for r in sorted(done, key=lambda r: r.run):
        if r.group == "flagged":  # one line each: what the run flagged, and why
            why = "; ".join(f"{o}: {w.split(' (rows')[0]}" for o, w in sorted(r.diverged.items()))
            print(f"flagged run {r.run}: {r.exit}, broker {r.combo}, faults {r.faults}; {why}")
    print(f"runs {totals['runs']} ({args.orders} orders each)")
    print(f"silent divergences {totals['silent_divergences']}")
    print(f"flagged divergences (named under attention, exit 2) {totals['flagged_divergences']}")
    print(f"agreeing {totals['agreeing']}")
    print(f"incomplete (no summary) {totals['incomplete']}")
    print(f"faults injected {totals['faults_injected']}")
    for name, c in sorted(by_combo.items()):
        print(f"  broker {name}: {c['runs']} runs, silent {c['silent']}, flagged {c['flagged']}")
    print(f"command: {command.strip()}")
    bad = totals["silent_divergences"] + totals["incomplete"]
    finish(args, totals, elapsed, work, clean=not bad)
    t = totals
    summary.write(
        args.summary,
        [
            summary.figure(
                "truth: silent divergences",
                "0 in 1,000 runs",
                f"{t['silent_divergences']} in {t['runs']} runs "
                f"({t['flagged_divergences']} flagged, {t['agreeing']} agreeing)",
                not bad if args.runs >= 1000 else (False if bad else None),
            ),
        ],
    )
    return 1 if bad or len(done) != args.runs else 0


if __name__ == "__main__":
    sys.exit(main())
