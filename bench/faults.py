"""Inject broker and network faults into whole runs: intent met, or precisely reported.

    python bench/faults.py [--runs 500] [--seed 0] [--workers 4 per CPU, at most 16]
                           [--runs-per-sim 10] [--only N,...]
                           [--orders 4] [--no-timeouts] [--kinds K,...] [--keep] [--json]
                           [--summary FILE]

Each scenario (seeded from --seed and its number) writes a plan of `--orders` orders,
one symbol each, placed and then given 1-3 steps (see bench/reliability.py: modifies
with absolute and relative prices, qty trims, partial and full cancels, `market`), and
arms 1-2 faults before one run of `planrunner run PLAN --dry-run --base-url PROXY
--state-dir D --format json`:

- simulator faults (`POST /_sim/faults`), each on one api-id (orders kt10000-kt10003,
  reads ka10075/ka10076/ka10001, the token au10001) and after N matching calls:
  `rate_limit` (count 1-3), `token_expiry`, `5xx` (status 500/502/503) and `1999` with
  `commit=yes|no`, `drop` (commit, then close the connection), `latency:ms=200..2500`
  (below the client's 10 s timeout and the runner's 3 s settle time, see below);
- `latency:ms=10500..20000` on one order api-id, count 1: past the client's 10 s timeout,
  so the request is `unknown` while the simulator still works on it (a place must never
  be sent again: it is adopted if found, else reported in doubt); `--no-timeouts` leaves
  this kind out (each such run lasts 15-30 s);
- a hand-placed order: before the run, an order with the same symbol, side, qty, price
  and type as one of the plan's places is placed straight at the simulator (same
  account). The plan must never act on it: any request naming its number, or any change
  to it, counts as "claimed, not ours";
- connection refused for 1-3 s: the runner talks to a small TCP proxy in this process in
  front of the simulator; at the Nth POST through it the proxy drops that request
  unsent, closes every connection and its listening socket, and listens again later;
- a journal write failure (`journal_full`): the runner starts with RLIMIT_FSIZE of
  600-9,000 bytes (its journal grows to ~10 KB), so a write fails (EFBIG, or a short
  write) part-way; it must stop sending and exit 2 (its output goes through a pipe);
- closed output (`output`): stdout read for one line and closed (`| head -1`), stdout and
  stderr pipes already closed (EPIPE), or descriptors 1 and 2 not open (`>&- 2>&-`); the
  run's summary is then what `planrunner status --format json` says.

A fault counts as injected when it fired (the simulator's `fired` counters; the proxy's
refusal windows). Each run ends in one of:
- intent: exit 0, attention empty, and the simulator committed exactly the plan's
  requests per order (type + qty/price, each naming the newest number) and holds the
  plan's end state (open qty and price, fills), and the journal's lineage matches;
- attention: exit 2, and every order that is not as the plan intends is named by a job
  in the `--format json` summary's `attention` list (journal lineage differences and
  requests the plan did not list, e.g. a market for 6 after a failed trim to 5, are
  allowed only on such orders); no duplicate;
- neither: anything else, printed in full.
Duplicates: a planned request the simulator committed more than once. In every run each
committed order request must follow a complete intent line in the journal ("sent without
a complete intent" otherwise); after a journal write failure the journal's complete
lines are checked, and a "run stopped"/"run refused" item names every order.
The runner keeps its default SETTLE_SECONDS (3 s): reconcile trusts the broker's lists
only for requests at least that old. With 0.3 s, a request the simulator was still
delaying (latency) when a refusal cut its connection executed after reconcile had found
nothing, and the runner sent it again: settle must exceed the broker's worst delay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from reliability import (
    FAKE_KEYS,
    ROOT,
    RUNNER,
    Check,
    GenPlan,
    Sim,
    add_run_options,
    attention_jobs,
    check_run,
    finish,
    last_summary,
    launch,
    launch_env,
    machine,
    make_plan,
    new_workdir,
    run_workers,
    runner_cmd,
    symbols_for,
    tail,
    wait,
)

ORDERS = ("kt10000", "kt10001", "kt10002", "kt10003")
READS = ("ka10075", "ka10076", "ka10001")
KINDS = ("rate_limit", "token_expiry", "5xx", "1999", "drop", "latency", "refused", "hand")
SLOW_KINDS = ("latency_timeout",)
# Faults of the runner's own process, this bench only (bench/truth.py compares summaries):
# the journal's file cut short by RLIMIT_FSIZE, and output streams closed under the run.
LOCAL_KINDS = ("journal_full", "output")
OUTPUTS = ("head", "broken", "closed")


# ---- connection refused: a TCP proxy that stops listening for a while ---------------------


class Proxy:
    """127.0.0.1:PORT -> the simulator. `arm(n, seconds)`: at the nth POST, drop it unsent,
    close every connection and the listening socket, and listen again `seconds` later."""

    def __init__(self, target_port: int):
        self.target = target_port
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._posts = 0
        self._armed: tuple[int, float] | None = None
        self.refusals = 0
        self._closed = False
        self._listening = threading.Event()
        self._listen(0)
        self.url = f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._lsock = s
        self._listening.set()
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def arm(self, nth_post: int | None, seconds: float) -> None:
        with self._lock:
            self._posts = 0
            self._armed = None if nth_post is None else (nth_post, seconds)

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Whether the proxy listens again (a refusal may outlast the run that caused it)."""
        return self._listening.wait(timeout)

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                client, _ = lsock.accept()
            except OSError:
                return  # closed: refusing, or the proxy is shut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            with self._lock:
                self._conns |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if outbound and self._count(data.count(b"POST /")):
                    break  # refusing: this request is never forwarded
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _count(self, posts: int) -> bool:
        with self._lock:
            if not posts or self._armed is None:
                return False
            self._posts += posts
            nth, seconds = self._armed
            if self._posts < nth:
                return False
            self._armed = None
            self.refusals += 1
            conns, self._conns = set(self._conns), set()
            self._listening.clear()
        self._stop_listening()
        for s in conns:
            self._close(s)
        threading.Thread(target=self._reopen, args=(seconds,), daemon=True).start()
        return True

    def _reopen(self, seconds: float) -> None:
        time.sleep(seconds)
        if not self._closed:
            for _ in range(50):
                try:
                    self._listen(self.port)
                    return
                except OSError:
                    time.sleep(0.05)

    @staticmethod
    def _close(s: socket.socket) -> None:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def _stop_listening(self) -> None:
        # close() alone leaves the accept() blocked in another thread holding the socket:
        # the next connection would still be accepted. shutdown() wakes it and refuses.
        with contextlib.suppress(OSError):
            self._lsock.shutdown(socket.SHUT_RDWR)
        self._lsock.close()

    def close(self) -> None:
        self._closed = True
        self._stop_listening()
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for s in conns:
            self._close(s)


# ---- one scenario ------------------------------------------------------------------------


def pick_faults(
    rng: random.Random, kinds: tuple[str, ...] = KINDS
) -> tuple[list[str], tuple[int, float] | None, bool, tuple[str, int] | None]:
    """Simulator fault specs, a refusal window (nth POST, seconds), whether to place a
    twin by hand, and a fault of the runner's process: ("journal_full", bytes) or
    ("head" | "broken" | "closed", 0)."""
    specs: list[str] = []
    refused: tuple[int, float] | None = None
    hand = False
    local: tuple[str, int] | None = None
    for kind in rng.sample(kinds, rng.randint(1, min(2, len(kinds)))):
        if kind == "journal_full":
            local = ("journal_full", rng.randint(600, 9000))
            continue
        if kind == "output":
            local = (rng.choice(OUTPUTS), 0)
            continue
        if kind == "refused":
            refused = (rng.randint(2, 40), rng.uniform(1.0, 3.0))
            continue
        if kind == "hand":
            hand = True
            continue
        if kind == "latency_timeout":
            api = rng.choice(ORDERS)
            ms = rng.randint(10_500, 20_000)
            specs.append(f"latency:api={api},ms={ms},count=1,after={rng.randint(0, 3)}")
            continue
        api = rng.choice([*ORDERS, *ORDERS, *READS, "au10001"])
        after = rng.randint(0, 3) if api in ORDERS else rng.randint(0, 12)
        if api == "au10001":
            after = 0
        if kind == "rate_limit":
            spec = f"rate_limit:api={api},count={rng.randint(1, 3)}"
        elif kind == "token_expiry":
            spec = f"token_expiry:api={api}"
        elif kind == "5xx":
            commit = rng.choice(["yes", "no"])
            spec = f"5xx:api={api},commit={commit},status={rng.choice([500, 502, 503])}"
        elif kind == "1999":
            spec = f"1999:api={api},commit={rng.choice(['yes', 'no'])}"
        elif kind == "drop":
            spec = f"drop:api={api}"
        else:
            spec = f"latency:api={api},ms={rng.randint(200, 2500)},count={rng.randint(1, 2)}"
        specs.append(f"{spec},after={after}")
    return specs, refused, hand, local


@dataclass
class Outcome:
    run: int
    faults: list[str] = field(default_factory=list)
    fired: int = 0
    group: str = ""  # intent | attention | neither
    exit: str = ""
    check: Check = field(default_factory=Check)
    report: str = ""
    claimed: int = 0  # requests naming a hand-placed order's number, or changes to it
    unannounced: int = 0  # requests the simulator committed without a complete intent
    seconds: float = 0.0  # the scenario's wall time, set-up and checks included

    @property
    def bad(self) -> bool:
        return self.group == "neither"

    @classmethod
    def failed(cls, run: int, why: str) -> Outcome:
        return cls(run=run, group="neither", exit=why, report=f"scenario {run}: {why}")


def place_by_hand(sim: Sim, gen: GenPlan, rng: random.Random) -> tuple[str, str]:
    """An order identical to one of the plan's places, placed straight at the simulator
    (as a person would in the same account); (its number, the plan's order id)."""
    from planrunner.kiwoom.client import KiwoomClient
    from planrunner.kiwoom.ratelimit import RateLimits

    o = rng.choice(sorted(gen.orders.values(), key=lambda x: x.id))
    api, qty, price, trde_tp = o.expected[0]
    assert api in ("kt10000", "kt10001") and trde_tp == "0", o.expected[0]
    with KiwoomClient(
        appkey=FAKE_KEYS["KIWOOM_APPKEY"],
        secretkey=FAKE_KEYS["KIWOOM_SECRETKEY"],
        env="mock",
        base_url=sim.url,
        rate_limits=RateLimits.for_env("sim"),
    ) as client:
        side = "buy" if api == "kt10000" else "sell"
        ack = client.place(o.symbol, side, int(qty), int(price), "limit")
    return ack.ord_no, o.id


def without_hand(
    hand: str, log: list[dict[str, Any]], orders: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The simulator's log and orders without the hand-placed order, and how often the
    plan claimed it (a request naming it, or the order no longer as placed)."""

    def same(ord_no: Any) -> bool:  # any padding: `1` is `0000001` (broker padding=none)
        return str(ord_no or "").isdigit() and int(ord_no) == int(hand)

    claimed = sum(1 for e in log if e.get("committed") and same(e["body"].get("orig_ord_no")))
    row = next((r for r in orders if same(r.get("ord_no"))), None)
    if row is None or row.get("cancelled") or row.get("moved"):
        claimed += 1  # cancelled or modified: only the plan could have done it
    log = [e for e in log if not same(e.get("ord_no")) or e["api_id"] not in ("kt10000", "kt10001")]
    log = [e for e in log if not same(e["body"].get("orig_ord_no"))]
    return log, [r for r in orders if not same(r.get("ord_no"))], claimed


# ---- faults of the runner's own process ----------------------------------------------------


def launch_local(
    plan: Path, url: str, state: Path, out: Path, local: tuple[str, int] | None
) -> int | None:
    """Run the plan once (as `launch(..., settle=None)`) under a fault of its own process;
    the exit code, or None when killed at the bound:
    - journal_full: RLIMIT_FSIZE of N bytes, so the journal's writes fail (EFBIG, or a
      short write) once it reaches N; the output goes through a pipe (not limited) to `out`;
    - head: stdout is a pipe read for one line and then closed (`planrunner run ... |
      head -1`); stderr goes to `out`;
    - broken: stdout and stderr are pipes already closed at the other end (EPIPE);
    - closed: descriptors 1 and 2 are not open at all (`>&- 2>&-`)."""
    if local is None:
        return wait(launch(plan, url, state, out, settle=None))
    kind, limit = local
    out.touch()
    env = launch_env(settle=None)
    if kind == "closed":
        env.pop("PYTHONFAULTHANDLER", None)  # it needs a stderr

    def start(**streams: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(runner_cmd(plan, url, state), env=env, cwd=ROOT, **streams)

    def copy(src: Any) -> None:
        with src, out.open("ab") as f:
            for chunk in iter(lambda: src.read1(65536), b""):
                f.write(chunk)

    if kind == "journal_full":

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        proc = start(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=cap)
        t = threading.Thread(target=copy, args=(proc.stdout,), daemon=True)
        t.start()
        rc = wait(proc)
        t.join(10)
        return rc
    if kind == "head":
        with out.open("ab") as err:
            proc = start(stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        with out.open("ab") as f:
            f.write(first)
        return wait(proc)
    if kind == "broken":
        r, w = os.pipe()
        os.close(r)
        try:
            proc = start(stdout=w, stderr=w)
        finally:
            os.close(w)
        return wait(proc)

    def close_outputs() -> None:
        os.close(1)
        os.close(2)

    return wait(
        start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=close_outputs)
    )


def status_summary(plan: Path, state: Path) -> dict[str, Any] | None:
    """What `planrunner status --format json` says needs attention (the run's own summary
    was printed to a closed stream)."""
    done = subprocess.run(
        [*RUNNER, "status", str(plan), "--state-dir", str(state), "--format", "json"],
        capture_output=True,
        env={**os.environ, **FAKE_KEYS},
        cwd=ROOT,
        timeout=60,
    )
    try:
        return {"attention": json.loads(done.stdout)["attention"]}
    except (ValueError, KeyError, TypeError):
        return None


def without_intent(log: list[dict[str, Any]], journal: Path, symbols: set[str]) -> int:
    """Order requests for `symbols` the simulator committed that no complete intent in
    the journal announced (each POST must follow its intent, written and fsynced)."""
    announced: Counter[tuple[str, ...]] = Counter()
    try:
        lines = journal.read_bytes().split(b"\n")
    except OSError:
        lines = []
    for raw in lines:
        try:
            rec = json.loads(raw)
        except ValueError:
            continue  # a torn line announces nothing
        if isinstance(rec, dict) and rec.get("type") == "intent":
            announced[_key(rec.get("api_id", ""), rec.get("body") or {})] += 1
    sent = Counter(
        _key(e["api_id"], e["body"])
        for e in log
        if e["api_id"] in ORDERS and e.get("committed") and e["body"].get("stk_cd") in symbols
    )
    return sum(max(0, n - announced[k]) for k, n in sent.items())


def _key(api: str, body: dict[str, Any]) -> tuple[str, ...]:
    orig = str(body.get("orig_ord_no") or "")
    fields = ("stk_cd", "ord_qty", "ord_uv", "trde_tp", "mdfy_qty", "mdfy_uv", "cncl_qty")
    return (
        api,
        str(int(orig)) if orig.isdigit() else orig,
        *(str(body.get(f, "")) for f in fields),
    )


@dataclass
class Faulted:
    """One run of a plan under 1-2 faults, and what the simulator holds after it."""

    gen: GenPlan
    plan: Path
    state: Path
    out: Path
    faults: list[str]
    rc: int | None  # None: killed at the bound
    summary: dict[str, Any] | None  # the `--format json` summary
    log: list[dict[str, Any]]  # /_sim/log without the hand-placed order
    orders: list[dict[str, Any]]  # /_sim/orders without the hand-placed order
    fired: int = 0
    claimed: int = 0  # requests naming a hand-placed order's number, or changes to it
    local: tuple[str, int] | None = None  # a fault of the runner's own process
    unannounced: int = 0  # committed order requests without a complete intent before them
    journal_failed: bool = False  # the runner said its journal could not be written

    @property
    def exit(self) -> str:
        return "killed at the bound" if self.rc is None else f"exit {self.rc}"

    def journal(self) -> Path:
        return next((self.state / self.gen.name).glob("*.jsonl"), self.state / "missing")

    def context(self) -> list[str]:
        """The plan's path and the tails of the runner's output and journal."""
        journal = self.journal()
        return [
            f"  plan {self.plan}",
            "  runner output (tail):",
            tail(self.out),
            f"  journal {journal} (tail):",
            tail(journal),
        ]


def seeded(
    bench: str, run: int, seed: int, n: int, kinds: tuple[str, ...]
) -> tuple[random.Random, GenPlan, tuple[list[str], Any, bool, Any]]:
    """Run `run`'s plan and faults, drawn from its own seed; the generator goes on to
    pick the hand-placed twin."""
    rng = random.Random(f"{bench}:{seed}:{run}")
    gen = make_plan(rng, f"{bench}-{run}", symbols_for(run, n), steps_per_order=(1, 3))
    return rng, gen, pick_faults(rng, kinds)


def past_timeout(spec: str) -> bool:
    """A latency fault past the client's 10 s timeout."""
    return spec.startswith("latency:") and int(spec.split("ms=", 1)[1].split(",", 1)[0]) >= 10_000


def slow_first(bench: str, runs: list[int], seed: int, n: int, kinds: tuple[str, ...]) -> list[int]:
    """The runs in the order workers take them: those with latency past the client's
    timeout first (15-30 s each, three to five times the others), so that none of them
    starts near the end and holds the whole bench up after the others are done."""
    slow = {r for r in runs if any(past_timeout(x) for x in seeded(bench, r, seed, n, kinds)[2][0])}
    return sorted(runs, key=lambda r: r not in slow)


def run_with_faults(
    bench: str,
    run: int,
    seed: int,
    sim: Sim,
    proxy: Proxy,
    work: Path,
    n: int,
    kinds: tuple[str, ...],
) -> Faulted:
    """Run `run` of `bench`: a plan of `n` orders seeded from both, faults of `kinds`
    (and maybe a hand-placed twin of one of the plan's orders), the plan run once through
    the proxy, then the simulator's truth read back."""
    rng, gen, (specs, refused, by_hand, local) = seeded(bench, run, seed, n, kinds)
    d = work / f"run{run}"
    d.mkdir(parents=True)
    plan, state, out = d / "plan.yaml", d / "state", d / "out.txt"
    plan.write_text(gen.text)
    sim.post("faults", {"clear": True})
    hand = place_by_hand(sim, gen, rng) if by_hand else None
    if specs:
        sim.post("faults", {"specs": specs})
    if not proxy.wait_listening():
        raise RuntimeError("the proxy did not listen again")
    before = proxy.refusals
    proxy.arm(*(refused or (None, 0.0)))
    faults = (
        specs
        + ([f"refused:after={refused[0]}posts,s={refused[1]:.1f}"] if refused else [])
        + ([f"hand:{hand[0]}={hand[1]}"] if hand else [])
        + ([f"{local[0]}:{local[1]}" if local[0] == "journal_full" else local[0]] if local else [])
    )
    rc = launch_local(plan, proxy.url, state, out, local)
    proxy.arm(None, 0.0)
    rules = sim.get("faults")["faults"]
    sim.post("faults", {"clear": True})
    fired = sum(int(r.get("fired", 0)) for r in rules) + proxy.refusals - before
    journal_failed = b"could not be written" in out.read_bytes()
    if local is not None:
        fired += 1 if local[0] != "journal_full" or journal_failed else 0
    log, orders = sim.get("log")["log"], sim.get("orders")["orders"]
    claimed = 0
    if hand is not None:
        log, orders, claimed = without_hand(hand[0], log, orders)
    said = last_summary(out)
    if local is not None and local[0] != "journal_full":
        said = status_summary(plan, state)
    journal = next((state / gen.name).glob("*.jsonl"), state / "missing")
    return Faulted(
        gen=gen,
        plan=plan,
        state=state,
        out=out,
        faults=faults,
        rc=rc,
        summary=said,
        log=log,
        orders=orders,
        fired=fired,
        claimed=claimed,
        local=local,
        unannounced=without_intent(log, journal, {o.symbol for o in gen.orders.values()}),
        journal_failed=journal_failed,
    )


def complete_lines(f: Faulted) -> Path:
    """The state directory, or after a journal write failure a copy of it whose journal
    ends at its last complete line."""
    journal = f.journal()
    if not f.journal_failed or not journal.exists():
        return f.state
    copy = f.state.parent / "state-complete"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(f.state, copy)
    data = journal.read_bytes()
    (copy / journal.relative_to(f.state)).write_bytes(data[: data.rfind(b"\n") + 1])
    return copy


def one_scenario(
    run: int, seed: int, sim: Sim, proxy: Proxy, work: Path, n: int, kinds: tuple[str, ...]
) -> Outcome:
    began = time.monotonic()
    f = run_with_faults("faults", run, seed, sim, proxy, work, n, kinds)
    gen, rc, summary = f.gen, f.rc, f.summary
    res = Outcome(
        run=run,
        faults=f.faults,
        fired=f.fired,
        exit=f.exit,
        claimed=f.claimed,
        unannounced=f.unannounced,
    )
    res.seconds = time.monotonic() - began
    # The journal's last line is cut where the file size limit fell (the fault itself):
    # its complete lines are checked, as the next run reads them.
    res.check = c = check_run(gen, f.log, f.orders, complete_lines(f), all_done=rc == 0)
    if f.unannounced:
        c.journal_errors.append(f"{f.unannounced} request(s) sent without a complete intent")
    # an attention item names a job (`o1.place: ...`) or a whole order (`o1: ...`)
    jobs = attention_jobs(summary)
    named = ({gen.order_of_job(j) for j in jobs} | (jobs & set(gen.orders))) - {None}
    attention = (summary or {}).get("attention")
    if f.journal_failed and summary is None and rc == 2 and b'{"error": ' in f.out.read_bytes():
        attention = ["run refused: its journal could not be written"]  # before any order
    if f.journal_failed and any(
        a.startswith(("run stopped:", "run refused:")) for a in attention or []
    ):
        named = set(gen.orders)  # nothing more was sent: every later step is not done
    clean = not (c.duplicates or c.journal_errors or res.claimed)
    if f.journal_failed and rc != 2:
        clean = False  # a journal write failure stops sending and exits 2
        c.notes.append("the journal could not be written, yet the run did not exit 2")
    if rc == 0 and attention == [] and c.exact and clean and not c.lineage_errors:
        res.group = "intent"
    elif (
        rc == 2
        and attention
        and clean
        and c.diverged <= named
        and set(c.lineage_errors) <= named
        and c.unexpected_on <= named  # a failed step changes what later steps send
    ):
        res.group = "attention"
    else:
        res.group = "neither"
        unnamed = sorted((c.diverged | set(c.lineage_errors)) - named)
        res.report = "\n".join(
            [
                f"scenario {run} (seed {seed}): {res.exit}, faults {res.faults} "
                f"(fired {res.fired}); orders not as planned and not named: {unnamed}"
                + (f"; claimed the hand-placed order {res.claimed}x" if res.claimed else ""),
                f"  attention {attention}",
                *(f"  {x}" for x in c.notes + c.journal_errors + list(c.lineage_errors.values())),
                *f.context(),
            ]
        )
    return res


class Result(Protocol):
    report: str  # printed when the run is bad

    @property
    def bad(self) -> bool: ...


R = TypeVar("R", bound=Result)


def serve(
    todo: queue.Queue[int],
    done: list[R],
    args: argparse.Namespace,
    work: Path,
    scenario: Callable[[int, Sim, Proxy], R],
    failed: Callable[[int, str], R],
    broker_for: Callable[[int], dict[str, str]] = lambda run: {},
) -> None:
    """A worker: take runs from `todo` until it is empty, each on this worker's simulator
    (a fresh one after `--runs-per-sim` runs, or when the run wants other broker
    behaviours) behind its own proxy; print the report of every bad run. `failed(run,
    why)` stands for a run the bench itself could not complete."""
    sim: Sim | None = None
    proxy: Proxy | None = None
    served, broker = 0, None
    try:
        while True:
            try:
                run = todo.get_nowait()
            except queue.Empty:
                return
            wanted = broker_for(run)
            if sim is None or proxy is None or served >= args.runs_per_sim or wanted != broker:
                if proxy is not None:
                    proxy.close()
                if sim is not None:
                    sim.close()
                sim = Sim(work, broker=wanted)
                proxy = Proxy(sim.port)
                served, broker = 0, wanted
            try:
                res = scenario(run, sim, proxy)
            except Exception as e:  # a bench failure is reported, never silent
                res = failed(run, f"bench error {e!r}")
            served += 1
            done.append(res)
            if not res.bad and not args.keep:
                shutil.rmtree(work / f"run{run}", ignore_errors=True)
            else:
                print(res.report, flush=True)
    finally:
        if proxy is not None:
            proxy.close()
        if sim is not None:
            sim.close()


def chosen_kinds(args: argparse.Namespace) -> tuple[str, ...]:
    if args.kinds:
        return tuple(args.kinds.split(","))
    return KINDS + LOCAL_KINDS + (() if args.no_timeouts else SLOW_KINDS)


def worker(todo: queue.Queue[int], done: list[Outcome], args: argparse.Namespace, work: Path):
    kinds = chosen_kinds(args)
    serve(
        todo,
        done,
        args,
        work,
        lambda run, sim, proxy: one_scenario(run, args.seed, sim, proxy, work, args.orders, kinds),
        Outcome.failed,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # A scenario mostly waits (its plan's instants, settle windows, latency faults): about
    # 1.5 CPU seconds of 6-30 s (runner start-up above all), so several per CPU.
    add_run_options(ap, runs=500, workers=min(16, 4 * (os.cpu_count() or 1)), unit="scenarios")
    ap.add_argument(
        "--no-timeouts", action="store_true", help="no latency past the client's timeout"
    )
    ap.add_argument(
        "--kinds",
        default="",
        help="only these fault kinds, comma-separated (of "
        + ", ".join(KINDS + LOCAL_KINDS + SLOW_KINDS)
        + ")",
    )
    summary.add_option(ap)
    args = ap.parse_args(argv)
    unknown = set(filter(None, args.kinds.split(","))) - set(KINDS + LOCAL_KINDS + SLOW_KINDS)
    if unknown:
        ap.error(f"unknown fault kinds: {sorted(unknown)}")
    runs = args.only or list(range(args.runs))
    args.runs = len(runs)
    args.only = slow_first("faults", runs, args.seed, args.orders, chosen_kinds(args))

    work = new_workdir("faults-")
    print(f"faults: {args.runs} scenarios, seed {args.seed}, {args.workers} workers; {work}")
    print(f"machine: {machine()}", flush=True)
    done: list[Outcome] = []
    elapsed = run_workers(worker, done, args, work)
    by_kind: dict[str, int] = {}
    seconds_by_kind: dict[str, list[float]] = {}
    for r in done:
        for f in r.faults:
            k = "latency_past_timeout" if past_timeout(f) else f.split(":", 1)[0]
            by_kind[k] = by_kind.get(k, 0) + 1
            seconds_by_kind.setdefault(k, []).append(r.seconds)
    # Where the time goes: scenario seconds (each worker runs one at a time) against CPU
    # seconds (runner and simulator processes, and this one) on the machine's CPUs.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime
    busy = sum(r.seconds for r in done)
    totals = {
        "scenarios": len(done),
        "faults_armed": sum(len(r.faults) for r in done),
        "faults_injected": sum(r.fired for r in done),
        "intent": sum(1 for r in done if r.group == "intent"),
        "attention": sum(1 for r in done if r.group == "attention"),
        "attention_broker_as_planned": sum(
            1 for r in done if r.group == "attention" and r.check.exact
        ),
        "neither": sum(1 for r in done if r.group == "neither"),
        "duplicates": sum(r.check.duplicates for r in done),
        "claimed_not_ours": sum(r.claimed for r in done),
        "unexpected": sum(r.check.unexpected for r in done),
        "journal_errors": sum(len(r.check.journal_errors) for r in done),
        "sent_without_intent": sum(r.unannounced for r in done),
        "armed_by_kind": by_kind,
        "elapsed_s": round(elapsed, 1),
        "scenario_s_total": round(busy, 1),
        "scenario_s_mean_by_kind": {
            k: round(sum(v) / len(v), 1) for k, v in sorted(seconds_by_kind.items())
        },
        "cpu_s": round(cpu, 1),
    }
    print(f"scenarios {totals['scenarios']} ({args.orders} orders each)")
    print(f"faults injected {totals['faults_injected']} (armed {totals['faults_armed']}: ", end="")
    print(", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) + ")")
    print(f"final broker state = plan's intent (exit 0) {totals['intent']}")
    print(f"reported precisely which jobs need attention (exit 2) {totals['attention']} ", end="")
    print(f"(of which the broker ended as planned anyway: {totals['attention_broker_as_planned']})")
    print(f"neither {totals['neither']}")
    print(f"duplicates {totals['duplicates']}")
    print(f"orders claimed that are not ours {totals['claimed_not_ours']}")
    print(f"unexpected requests {totals['unexpected']} (allowed only on orders named)")
    print(f"journal errors {totals['journal_errors']}")
    print(f"requests sent without a complete intent {totals['sent_without_intent']}")
    if done:
        slow = ", ".join(f"{k} {v}" for k, v in totals["scenario_s_mean_by_kind"].items())
        print(
            f"time: scenarios {busy:.0f} s in all ({busy / len(done):.1f} s each; by fault "
            f"kind: {slow}), CPU {cpu:.0f} s ({cpu / len(done):.2f} s each) on "
            f"{os.cpu_count()} CPUs"
        )
    finish(args, totals, elapsed, work, clean=totals["neither"] == 0)
    bad = totals["neither"] + totals["duplicates"] + totals["claimed_not_ours"]
    t = totals
    summary.write(
        args.summary,
        [
            summary.figure(
                "faults: as planned or precisely reported",
                "every run (neither 0)",
                f"{t['intent']} as planned + {t['attention']} reported, neither {t['neither']} "
                f"({t['scenarios']} scenarios, {t['faults_injected']} faults injected)",
                not t["neither"] and len(done) == args.runs,
            ),
            summary.figure("faults: duplicates", "0", str(t["duplicates"]), not t["duplicates"]),
            summary.figure(
                "faults: orders claimed that are not ours",
                "0",
                str(t["claimed_not_ours"]),
                not t["claimed_not_ours"],
            ),
            summary.figure(
                "faults: time",
                "500 scenarios < 10 min",
                f"{elapsed:.0f} s for {t['scenarios']} scenarios",
                elapsed < 600 if args.runs >= 500 else None,
            ),
        ],
    )
    return 1 if bad or len(done) != args.runs else 0


if __name__ == "__main__":
    sys.exit(main())
