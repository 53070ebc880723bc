"""Run every benchmark of the project and rewrite the Summary of docs/performance.md.

    python bench/run.py [--full] [--only NAME,...] [--logs DIR] [--no-write]

Runs validate, client, firing, trigger, fills, chaos, faults and fuzz one after another, each
as its own process (`python bench/NAME.py ...`) with `--summary FILE` added, collects
the headline figures each bench writes there (bench/summary.py) and rewrites the
"Summary" section at the top of docs/performance.md: the machine (nproc, CPU model,
RAM, Python, date, load average before and after), then one table of figure, goal,
measured, met and the exact command each bench was run with.

Small counts (the default; about 4 minutes on 2 cores), each bench with `--no-write` so
the sections below the Summary keep their full-count figures:
- validate: as its default (10 cold runs of one plan, 3 calls over 1,000 plans);
- client: `--rounds 200` (default 500);
- firing: `--orders 60 --modifies 2 --every 5` (180 jobs over ~15 s; default 500 jobs
  over 40 s), the 10,000-step memory figure as its default;
- trigger: `--sizes 1,50,200 --poll-sizes 1 --seeds 1 --crossings 5` (default 1-200
  symbols with the feed, 1 and 10 polling, 3 seeds, 10 crossings);
- fills: `--orders 5 --seeds 1` (default 10 fills per run, 3 seeds);
- chaos: `--runs 20` (default 200); faults: `--runs 50` (default 500);
- fuzz: `--examples 100 --client-examples 300` (default 1,000 and 3,000).
With `--full` every bench runs with its defaults, the counts of the issues' goals, and
the benches that write a section of their own (client, firing, trigger, fills) rewrite it; that
takes about 20-25 minutes. Each bench is bounded (`--timeout`, default 300 s small and
1,800 s full; then its whole process group is stopped) and reported as failed then.
Each bench's output goes to a log file in `--logs` (a new temporary folder by default).
Exit code 1 if a bench failed or a goal was missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import summary

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECTION = "Summary"


@dataclass(frozen=True)
class Bench:
    name: str
    small: tuple[str, ...]  # arguments of the small run
    writes: bool  # rewrites its own section of docs/performance.md unless --no-write
    counts: str  # the small run's counts, in words


BENCHES = (
    Bench("validate", (), False, "validate as its default"),
    Bench("client", ("--rounds", "200"), True, "client 200 rounds (default 500)"),
    Bench(
        "firing",
        ("--orders", "60", "--modifies", "2", "--every", "5"),
        True,
        "firing 180 jobs over ~15 s (default 500 over 40 s)",
    ),
    Bench(
        "trigger",
        ("--sizes", "1,50,200", "--poll-sizes", "1", "--seeds", "1", "--crossings", "5"),
        True,
        "trigger 1 seed, 5 crossings per run, 1/50/200 symbols, polling at 1 (default "
        "3 seeds, 10 crossings, 1/10/50/200, polling at 1/10/50)",
    ),
    Bench(
        "fills",
        ("--orders", "5", "--seeds", "1"),
        True,
        "fills 5 per run, 1 seed (default 10, 3 seeds)",
    ),
    Bench("chaos", ("--runs", "20"), False, "chaos 20 runs (default 200)"),
    Bench("faults", ("--runs", "50"), False, "faults 50 scenarios (default 500)"),
    Bench(
        "fuzz",
        ("--examples", "100", "--client-examples", "300"),
        False,
        "fuzz 100 / 300 examples (default 1,000 / 3,000)",
    ),
)


def bench_args(bench: Bench, full: bool) -> list[str]:
    """The bench's own arguments, as shown in the table (without --summary FILE)."""
    if full:
        return []
    return [*bench.small, *(["--no-write"] if bench.writes else [])]


def shown(args: list[str], script: str) -> str:
    return shlex.join(["python", f"bench/{script}.py", *args])


# ---- the machine ---------------------------------------------------------------------------


def ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


# ---- running the benches ------------------------------------------------------------------


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the bench and every process it started (its own process group)."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_bench(
    bench: Bench, args: list[str], logs: Path, timeout: float
) -> tuple[list[dict[str, Any]], float]:
    out = logs / f"{bench.name}.summary.json"
    out.unlink(missing_ok=True)
    log = logs / f"{bench.name}.log"
    cmd = [sys.executable, str(ROOT / "bench" / f"{bench.name}.py"), *args, "--summary", str(out)]
    print(f"[{bench.name}] {shown(args, bench.name)} (log: {log})", flush=True)
    start = time.monotonic()
    with log.open("wb") as f:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            stop_group(proc)
    took = time.monotonic() - start
    rows: list[dict[str, Any]] = []
    problem = ""
    if rc is None:
        problem = f"stopped after {timeout:g} s (its bound)"
    elif out.exists():
        try:
            rows = summary.read(out)
        except ValueError as e:
            problem = f"unreadable summary: {e}"
    else:
        problem = f"exit {rc}, no summary"
    if problem:
        rows.append(summary.figure(f"{bench.name}: bench", "runs to its end", problem, False))
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        print("\n".join(f"    {line}" for line in tail))
    status = "exit " + (str(rc) if rc is not None else "-")
    print(f"[{bench.name}] {status}, {took:.0f} s", flush=True)
    for r in rows:
        print(f"    {r['figure']}: {r['measured']} (goal {r['goal']}: {met_word(r['met'])})")
    return rows, took


def met_word(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[met]


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def report(
    rows: list[tuple[dict[str, Any], str]],
    full: bool,
    machine: str,
    loads: tuple[str, str],
    took: float,
    names: list[str],
) -> str:
    mode = "`python bench/run.py --full`" if full else "`python bench/run.py`"
    if full:
        counts = (
            "Counts: each bench's defaults, the counts of the issues' goals; client, firing "
            "and trigger also rewrote their sections below."
        )
    else:
        small = "; ".join(b.counts for b in BENCHES if b.name in names)
        counts = (
            f"Small counts: {small}. The benches that write a section of their own ran with "
            "`--no-write`, so the sections below keep their figures at the full counts; "
            "`python bench/run.py --full` runs every bench at the issues' counts and lets "
            "those rewrite their sections."
        )
    lines = [
        f"Written by {mode} on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{took:.0f} s in all. Machine: {machine}; load average (1/5/15 min) before "
        f"{loads[0]}, after {loads[1]} (the machine may be shared with other work).",
        "",
        counts + " Each command below ran from the repo root in `.venv` with `--summary FILE` "
        "added (how a bench hands its figures to `bench/run.py`: `bench/summary.py`). "
        "met: – where a goal is set for a larger count than this run used.",
        "",
        "| figure | goal | measured | met | command |",
        "|---|---|---|---|---|",
    ]
    for r, command in rows:
        lines.append(
            f"| {cell(r['figure'])} | {cell(r['goal'])} | {cell(r['measured'])} "
            f"| {met_word(r['met'])} | `{command}` |"
        )
    return "\n".join(lines) + "\n"


def write_section(text: str, doc_path: Path = DOC) -> None:
    """Put `text` as the Summary section, first after the title; the rest stays as it is."""
    doc = doc_path.read_text(encoding="utf-8") if doc_path.exists() else "# Performance\n"
    mark = f"\n## {SECTION}\n"
    at = doc.find(mark)
    if at >= 0:
        head, rest = doc[:at], doc[at + len(mark) :]
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    else:
        nxt = doc.find("\n## ")
        head, tail = (doc[:nxt], doc[nxt:]) if nxt >= 0 else (doc, "")
    body = text.rstrip("\n") + "\n"
    doc_path.write_text(f"{head.rstrip()}\n\n## {SECTION}\n\n{body}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="each bench at its default counts")
    ap.add_argument(
        "--only", help="comma-separated bench names (default: all; the Summary then has only these)"
    )
    ap.add_argument("--logs", type=Path, help="folder for each bench's log and summary")
    ap.add_argument("--timeout", type=float, help="seconds per bench (300 small, 1800 full)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    names = [b.name for b in BENCHES]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            ap.error(f"unknown bench {', '.join(unknown)} (known: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    timeout = args.timeout or (1800.0 if args.full else 300.0)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="planrunner-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    machine = (
        f"nproc {nproc()}, {summary.cpu_model()}, RAM {ram_gib()}, "
        f"Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; commit {commit()}"
    )
    print(f"machine: {machine}; load average {load()}; logs in {logs}", flush=True)
    load_before, start = load(), time.monotonic()
    rows: list[tuple[dict[str, Any], str]] = []
    for bench in BENCHES:
        if bench.name not in names:
            continue
        bargs = bench_args(bench, args.full)
        got, _ = run_bench(bench, bargs, logs, timeout)
        rows += [(r, shown(bargs, bench.name)) for r in got]
    took = time.monotonic() - start
    text = report(rows, args.full, machine, (load_before, load()), took, names)
    print()
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"written to {DOC.relative_to(ROOT)}")
    return 1 if any(r["met"] is False for r, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
