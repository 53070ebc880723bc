"""Shared by bench/chaos.py and bench/faults.py: seeded plans whose broker requests are
known exactly, the loopback simulator in its own process, runner launches, and the
checks against the simulator's own log (the truth about what was sent).

Every plan gives each order its own symbol, prices far from the 70,000 market (buys at
52,000-62,000, sells at 78,000-88,000) on a simulator that never walks (`walk_every: 1h`),
so nothing fills but `market` switches. That makes each order's request sequence exact:

    place          kt10000/kt10001  ord_qty, ord_uv, trde_tp 0
    modify price   kt10002          mdfy_qty 0, mdfy_uv (absolute, or N ticks from now)
    modify qty Q   kt10003          cncl_qty remaining - Q (qty is the new total)
    cancel qty N   kt10003          cncl_qty N (0 when N >= remaining)
    cancel         kt10003          cncl_qty 0
    market         kt10003 cncl_qty 0, then kt1000x ord_qty remaining, trde_tp 3

The runner is `planrunner run PLAN --dry-run --base-url URL --state-dir D --format json`
with fake keys, as in tests/support/loopback.py, and PLANRUNNER_SETTLE_SECONDS=0.3 (the
simulator answers in milliseconds; the runner's default is 3 s).
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The loopback harness is the tests' (tests/support/loopback.py): the simulator's process,
# fake keys, and RUNNER, `planrunner` with the test seams (settle time, crash points) taken
# from the environment (tests/support/entry.py; run from the checkout's root).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.loopback import FAKE_KEYS, ROOT, RUNNER, SimProcess, dry_run

SETTLE = "0.3"  # PLANRUNNER_SETTLE_SECONDS for the runner (documented in performance.md)
# codes: open: the runs trade made-up codes (symbols_for), one set per run
SCENARIO = "walk_every: 1h\ndefault: {price: 70000}\ncodes: open\n"
ORDER_APIS = ("kt10000", "kt10001", "kt10002", "kt10003")
LAUNCH_TIMEOUT = 60.0  # seconds; a launch still running then is killed and reported
TERMINAL = ("cancel_all", "market")
STEP_KINDS = ("mod_abs", "mod_rel", "mod_qty", "mod_qty_price", "cancel_part", *TERMINAL)

Req = tuple[str, ...]  # (api_id, qty field, price field, trde_tp)


def tick_step(price: int, n: int) -> int:
    from planrunner.krx import ticks

    return ticks.step(price, n)


# ---- the simulator in its own process ------------------------------------------------------


class Sim(SimProcess):
    """`planrunner sim --port 0 --scenario S [--broker NAME=VALUE ...]` (the loopback
    harness of tests/support). `broker`: the broker behaviours (planrunner/sim/behaviour.py)."""

    def __init__(self, workdir: Path, broker: dict[str, str] | None = None):
        scenario = workdir / "scenario.yaml"
        scenario.write_text(SCENARIO)
        args = ["--scenario", str(scenario)]
        for name, value in sorted((broker or {}).items()):
            args += ["--broker", f"{name}={value}"]
        super().__init__(*args, stderr=subprocess.DEVNULL, cwd=ROOT)


# ---- seeded plans --------------------------------------------------------------------------


@dataclass
class OrderPlan:
    id: str
    symbol: str
    side: str
    qty: int
    price: int
    at_ms: int
    expected: list[Req] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    # The end state at the broker when every action ran: open qty, its price, filled.
    open_qty: int = 0
    open_price: int | None = None
    filled: int = 0


@dataclass
class GenPlan:
    name: str
    text: str
    orders: dict[str, OrderPlan]
    end_ms: int

    def order_of_job(self, job: str) -> str | None:
        for o in self.orders.values():
            if job in o.jobs:
                return o.id
        return None

    @property
    def actions(self) -> int:
        return sum(len(o.jobs) for o in self.orders.values())


def _place_req(side: str, qty: int, price: int | None) -> Req:
    api = "kt10000" if side == "buy" else "kt10001"
    return (api, str(qty), "" if price is None else str(price), "0" if price else "3")


def make_plan(
    rng: random.Random, name: str, symbols: list[str], *, steps_per_order: tuple[int, int]
) -> GenPlan:
    """One order per symbol, each placed then given a few steps. Returns the YAML text and,
    per order, the exact requests the broker must receive and its end state."""
    orders: dict[str, OrderPlan] = {}
    steps: list[tuple[int, str, str, str]] = []  # (at_ms, order, kind, yaml body)
    for i, symbol in enumerate(symbols):
        side = "buy" if i % 2 == 0 else "sell"
        lo, hi = (520, 620) if side == "buy" else (780, 880)
        o = OrderPlan(
            id=f"o{i}",
            symbol=symbol,
            side=side,
            qty=rng.randint(6, 20),
            price=rng.randint(lo, hi) * 100,
            at_ms=rng.randint(300, 1200),
        )
        orders[o.id] = o
        o.jobs.append(f"{o.id}.place")
        o.kinds.append("place")
        o.expected.append(_place_req(side, o.qty, o.price))
        remaining, price, t = o.qty, o.price, o.at_ms
        # The first orders get a market switch and a partial cancel, so every plan has them.
        wanted = rng.randint(*steps_per_order)
        forced = {0: "market", 1: "cancel_part"}.get(i)
        for n in range(wanted):
            t += rng.randint(150, 600)
            last = n == wanted - 1
            if forced and (forced == "cancel_part" or last):
                kind = forced
                forced = None if forced == "cancel_part" else forced
            else:
                kind = rng.choice([k for k in STEP_KINDS if k not in TERMINAL or last])
            if kind in ("mod_qty", "mod_qty_price") and remaining < 2:
                kind = "mod_abs"
            if kind == "cancel_part" and remaining < 2:
                kind = "mod_rel"
            if kind == "mod_abs":
                new = price
                while new == price:
                    new = rng.randint(lo, hi) * 100
                body = f"modify: {{order: {o.id}, price: {new}}}"
                o.expected.append(("kt10002", "0", str(new), ""))
                price = new
            elif kind == "mod_rel":
                k = rng.choice([-2, -1, 1, 2])
                word = "tick" if abs(k) == 1 else "ticks"
                body = f'modify: {{order: {o.id}, price: "{k:+d} {word}"}}'
                price = tick_step(price, k)
                o.expected.append(("kt10002", "0", str(price), ""))
            elif kind == "mod_qty":
                q = rng.randint(1, remaining - 1)
                body = f"modify: {{order: {o.id}, qty: {q}}}"
                o.expected.append(("kt10003", str(remaining - q), "", ""))
                remaining = q
            elif kind == "mod_qty_price":
                q = rng.randint(1, remaining - 1)
                k = rng.choice([-1, 1])
                body = f'modify: {{order: {o.id}, qty: {q}, price: "{k:+d} tick"}}'
                o.expected.append(("kt10003", str(remaining - q), "", ""))
                price = tick_step(price, k)
                o.expected.append(("kt10002", "0", str(price), ""))
                remaining = q
            elif kind == "cancel_part":
                c = rng.randint(1, remaining - 1)
                body = f"cancel: {{order: {o.id}, qty: {c}}}"
                o.expected.append(("kt10003", str(c), "", ""))
                remaining -= c
            elif kind == "cancel_all":
                body = f"cancel: {{order: {o.id}}}"
                o.expected.append(("kt10003", "0", "", ""))
                remaining = 0
            else:  # market
                body = f"market: {{order: {o.id}}}"
                o.expected.append(("kt10003", "0", "", ""))
                o.expected.append(_place_req(side, remaining, None))
                o.filled, remaining = remaining, 0
            o.kinds.append(kind)
            steps.append((t, o.id, kind, body))
        o.open_qty = remaining
        o.open_price = price if remaining else None
    lines = [
        "version: 1",
        f"name: {name}",
        "description: Seeded reliability plan (bench/reliability.py); nothing fills but markets.",
        "orders:",
    ]
    for o in orders.values():
        lines.append(
            f'  {o.id}: {{symbol: "{o.symbol}", side: {o.side}, qty: {o.qty}, '
            f'price: {o.price}, at: "+{o.at_ms}ms"}}'
        )
    lines.append("steps:")
    # Steps keep each order's own sequence; across orders they interleave by time.
    steps.sort(key=lambda s: s[0])
    seen: dict[str, int] = {}
    for t, oid, _kind, body in steps:
        # The runner's job id: order, action and time (a repeated key gets `~2`).
        jid = f"{oid}.{body.split(':')[0]}@+{t / 1000:g}s"
        seen[jid] = seen.get(jid, 0) + 1
        orders[oid].jobs.append(jid if seen[jid] == 1 else f"{jid}~{seen[jid]}")
        lines.append(f'  - at: "+{t}ms"')
        lines.append(f"    {body}")
    # A restart keeps the first run start: jobs it finds past their time are still sent.
    lines += ["policy:", "  misfire_grace: 10m"]
    end = max([o.at_ms for o in orders.values()] + [s[0] for s in steps])
    return GenPlan(name=name, text="\n".join(lines) + "\n", orders=orders, end_ms=end)


# ---- launching the runner ------------------------------------------------------------------


def runner_cmd(plan: Path, url: str, state: Path) -> list[str]:
    return [*RUNNER, *dry_run(plan, url, state, "--format", "json")]


def launch(
    plan: Path, url: str, state: Path, out: Path, *, settle: str | None = SETTLE
) -> subprocess.Popen[bytes]:
    """`settle=None` keeps the runner's own SETTLE_SECONDS (3 s)."""
    with out.open("ab") as f:
        return subprocess.Popen(
            runner_cmd(plan, url, state),
            stdout=f,
            stderr=subprocess.STDOUT,
            env=launch_env(settle),
            cwd=ROOT,
        )


def launch_env(settle: str | None = SETTLE) -> dict[str, str]:
    """A launch's environment: fake keys, no crash point, the settle time (`None`: the
    runner's own), and Python's faulthandler (SIGABRT on a hung launch prints every
    thread's stack)."""
    env = {**os.environ, **FAKE_KEYS}
    for name in (
        "PLANRUNNER_SETTLE_SECONDS",
        "PLANRUNNER_IN_FLIGHT_SECONDS",
        "PLANRUNNER_CRASH_AT",
    ):
        env.pop(name, None)
    if settle is not None:
        # the simulator answers in milliseconds: after a kill, a request in flight is in
        # its lists within the settle time (the default waits the client's 13 s timeout)
        env["PLANRUNNER_SETTLE_SECONDS"] = settle
        env["PLANRUNNER_IN_FLIGHT_SECONDS"] = settle
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def wait(proc: subprocess.Popen[bytes], timeout: float = LAUNCH_TIMEOUT) -> int | None:
    """The exit code, or None after killing a launch that outlived the bound (SIGABRT
    first: Python's faulthandler then prints every thread's stack to its output)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(timeout=5)
            return None
        except subprocess.TimeoutExpired:
            pass
        proc.kill()
        proc.wait()
        return None


def last_summary(out: Path) -> dict[str, Any] | None:
    """The `--format json` summary printed by the last launch that finished."""
    for line in reversed(out.read_text(errors="replace").splitlines()):
        if line.startswith('{"summary"'):
            try:
                return json.loads(line)["summary"]
            except ValueError:
                return None
    return None


def tail(path: Path, n: int = 12) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(missing)"
    return "\n".join("    " + ln[:300] for ln in lines[-n:])


# ---- the truth: the simulator's log and orders, and the journal ---------------------------


def _req_of(entry: dict[str, Any]) -> Req:
    b = entry["body"]
    api = entry["api_id"]
    if api in ("kt10000", "kt10001"):
        return (api, b.get("ord_qty", ""), b.get("ord_uv", ""), b.get("trde_tp", ""))
    if api == "kt10002":
        return (api, b.get("mdfy_qty", ""), b.get("mdfy_uv", ""), "")
    return (api, b.get("cncl_qty", ""), "", "")


@dataclass
class Check:
    """One run against the simulator's log and orders and its journal."""

    duplicates: int = 0  # requests the simulator committed more often than the plan says
    lost: int = 0  # planned requests it never committed
    unexpected: int = 0  # committed requests the plan never asked for
    journal_errors: list[str] = field(default_factory=list)
    lineage_errors: dict[str, str] = field(default_factory=dict)  # order -> what differs
    diverged: set[str] = field(default_factory=set)  # orders not as the plan intends
    unexpected_on: set[str] = field(default_factory=set)  # orders with unexpected requests
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.diverged or self.duplicates or self.lost or self.unexpected)


def check_run(
    gen: GenPlan,
    log: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    state: Path,
    *,
    all_done: bool,
) -> Check:
    from planrunner.engine.journal import JournalCorrupt, replay

    c = Check()
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for e in log:
        if e["api_id"] in ORDER_APIS and e.get("committed"):
            by_symbol.setdefault(e["body"].get("stk_cd", ""), []).append(e)
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in orders:
        rows.setdefault(row["symbol"], []).append(row)
    committed_numbers: dict[str, set[str]] = {}
    for o in gen.orders.values():
        entries = by_symbol.get(o.symbol, [])
        got = [_req_of(e) for e in entries]
        want, have = Counter(o.expected), Counter(got)
        for req in set(want) | set(have):
            extra = have[req] - want[req]
            if extra > 0 and req in want:
                c.duplicates += extra
            elif extra > 0:
                c.unexpected += extra
                c.unexpected_on.add(o.id)
            elif extra < 0:
                c.lost += -extra
        if got != o.expected:
            c.diverged.add(o.id)
            c.notes.append(f"{o.id} ({o.symbol}) sent {got}, plan {o.expected}")
        # Each modify and cancel names the newest number of the order at that moment.
        newest = None
        for e in entries:
            if e["api_id"] in ("kt10002", "kt10003") and e["body"].get("orig_ord_no") != newest:
                c.diverged.add(o.id)
                c.unexpected += 1
                c.unexpected_on.add(o.id)
                c.notes.append(f"{o.id}: {e['api_id']} names {e['body'].get('orig_ord_no')}")
            if e["api_id"] in ("kt10000", "kt10001", "kt10002") and (
                e["api_id"] == "kt10002" or e["body"].get("trde_tp") == "0"
            ):
                newest = e["ord_no"]
        committed_numbers[o.id] = {e["ord_no"] for e in entries if e["api_id"] != "kt10003"}
        mine = [r for r in rows.get(o.symbol, []) if r["kind"] != "cancel"]
        open_qty = sum(r["remaining"] for r in mine)
        filled = sum(r["filled"] for r in mine)
        prices = {r["price"] for r in mine if r["remaining"]}
        end = (open_qty, next(iter(prices)) if len(prices) == 1 else None, filled)
        if end != (o.open_qty, o.open_price, o.filled):
            c.diverged.add(o.id)
            c.notes.append(
                f"{o.id} ends open {end[0]} at {end[1]}, filled {end[2]}; plan "
                f"open {o.open_qty} at {o.open_price}, filled {o.filled}"
            )
    journals = sorted((state / gen.name).glob("*.jsonl"))
    if len(journals) != 1:
        c.journal_errors.append(f"{len(journals)} journals under {state / gen.name}")
        return c
    try:
        rep = replay(journals[0])
    except JournalCorrupt as e:
        c.journal_errors.append(str(e))
        return c
    if rep.torn_tail:
        c.journal_errors.append("torn last line after a clean exit")
    for o in gen.orders.values():
        numbers = {ln.ord_no for ln in rep.lineage.get(o.id, []) if ln.kind != "cancel"}
        if numbers != committed_numbers[o.id]:
            c.lineage_errors[o.id] = (
                f"{o.id}: journal lineage {sorted(numbers)} but the simulator committed "
                f"{sorted(committed_numbers[o.id])}"
            )
    if all_done:
        if rep.in_doubt():
            c.journal_errors.append(f"in doubt at the end: {[j for j, _, _ in rep.in_doubt()]}")
        for o in gen.orders.values():
            for job in o.jobs:
                js = rep.jobs.get(job)
                if js is None or js.state != "done":
                    c.journal_errors.append(f"{job} is {js.state if js else 'missing'}")
    return c


def attention_jobs(summary: dict[str, Any] | None) -> set[str]:
    """The job ids named by the summary's attention list (`job: why`)."""
    if not summary:
        return set()
    return {a.split(":", 1)[0].strip() for a in summary.get("attention", []) if ":" in a}


def symbols_for(run: int, n: int) -> list[str]:
    """Symbols no other run uses, so one simulator serves many runs."""
    return [f"{100000 + run * 10 + i:06d}" for i in range(n)]


def new_workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def machine() -> str:
    import platform

    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average (1 min) {load:.2f}"
    )


def finish(args: Any, totals: dict[str, Any], elapsed: float, work: Path, *, clean: bool) -> None:
    """The end every reliability bench prints: the time and the machine, the work directory
    removed when every run was clean (unless --keep), the totals as JSON (--json)."""
    print(f"elapsed {elapsed:.1f} s; machine after: {machine()}")
    if clean and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(totals))


def add_run_options(ap: Any, *, runs: int, workers: int, unit: str = "runs") -> None:
    """The options bench/faults.py and bench/truth.py share (each adds --summary FILE)."""
    ap.add_argument("--runs", type=int, default=runs, help=unit)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=workers)
    ap.add_argument("--runs-per-sim", type=int, default=10)
    ap.add_argument("--orders", type=int, default=4, help="orders per plan (symbols)")
    ap.add_argument("--keep", action="store_true", help=f"keep every one of the {unit}' folders")
    ap.add_argument("--json", action="store_true", help="end with one line of JSON totals")
    ap.add_argument(
        "--only",
        type=lambda v: [int(x) for x in v.split(",")],
        metavar="N,...",
        help=f"only these {unit} (by number, to repeat one exactly); sets --runs",
    )


def now() -> float:
    return time.monotonic()


def run_workers(
    worker: Callable[[queue.Queue[int], list[Any], Any, Path], None],
    done: list[Any],
    args: Any,
    work: Path,
) -> float:
    """Hand runs 0..args.runs-1 to args.workers threads running `worker`; Ctrl-C hands out
    nothing more and waits for the runs in progress. Returns the elapsed seconds."""
    todo: queue.Queue[int] = queue.Queue()
    for run in getattr(args, "only", None) or range(args.runs):  # --only N,...: those runs
        todo.put(run)
    start = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(todo, done, args, work), daemon=True)
        for _ in range(args.workers)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:  # hand out nothing more; running launches end on their own
        while not todo.empty():
            todo.get_nowait()
        print("interrupted: waiting for the runs in progress", flush=True)
        for t in threads:
            t.join()
    return time.monotonic() - start
