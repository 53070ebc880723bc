"""The append-only JSONL journal: the runner's memory across crashes and restarts.

Journal first: an `intent` line is appended and fsynced before every order POST; its
outcome (`ack`, `rejected`, `unknown`) follows. `replay` rebuilds, from the lines alone,
which jobs are done, which requests are in doubt, and each order's number lineage.

Record types (every line has `t`, the wall-clock time, and `type`):
    start      pid, mode, env, file, sha256, git_commit, run_start
    adopt      order, ord_no
    intent     job, req (index of the request within the job), order, kind, api_id, body
    ack        job, req, order, kind, ord_no, base_orig_ord_no, qty
    rejected   job, req, order, code, message
    unknown    job, req, order, error
    reconciled job, req, order, found (bool), ord_no?
    fill       order, ord_no, filled, remaining
    skipped    job, reason
    done       job
    failed     job, reason
    stop       reason, exit_code
A torn last line (a crash mid-write) is ignored; a bad line anywhere else is an error.
Secrets never reach this file: callers pass request bodies, never headers.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planrunner.clock import SEOUL
from planrunner.errors import RunError

Record = dict[str, Any]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "planrunner"


def journal_path(state_dir: Path, plan_name: str, day: dt.date, env: str) -> Path:
    return state_dir / plan_name / f"{day.isoformat()}.{env}.jsonl"


class JournalCorrupt(RunError):
    pass


@dataclass(slots=True, kw_only=True)
class Link:
    """One order number in an order's lineage."""

    ord_no: str
    kind: str  # place | adopt | modify | cancel | market | replace
    job: str | None
    t: str
    base: str | None = None
    at: str | None = None  # on the plan's clock (virtual under --sim)
    working: bool = True  # False for a partial cancel: the rest stays under the old number


@dataclass(slots=True, kw_only=True)
class JobState:
    state: str = "pending"  # pending | sent | done | skipped | failed | unknown
    reason: str = ""
    acked_reqs: dict[int, Record] = field(default_factory=dict)
    open_intents: dict[int, Record] = field(default_factory=dict)  # intent without outcome
    unknown_reqs: dict[int, Record] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Replay:
    """What a journal says, folded."""

    records: list[Record] = field(default_factory=list)
    starts: list[Record] = field(default_factory=list)
    jobs: dict[str, JobState] = field(default_factory=dict)
    lineage: dict[str, list[Link]] = field(default_factory=dict)
    fills: dict[str, Record] = field(default_factory=dict)
    torn_tail: bool = False

    @property
    def run_start(self) -> dt.datetime | None:
        if not self.starts:
            return None
        return dt.datetime.fromisoformat(self.starts[0]["run_start"])

    def job(self, job_id: str) -> JobState:
        return self.jobs.setdefault(job_id, JobState())

    def newest(self, order: str) -> str | None:
        """The number a modify or cancel of this order must name now."""
        working = [link for link in self.lineage.get(order, []) if link.working]
        return working[-1].ord_no if working else None

    def in_doubt(self) -> list[tuple[str, int, Record]]:
        """Requests whose outcome is not known: intents without outcome, and unknowns."""
        out: list[tuple[str, int, Record]] = []
        for job_id, js in self.jobs.items():
            for req, rec in sorted({**js.open_intents, **js.unknown_reqs}.items()):
                out.append((job_id, req, rec))
        return out

    def apply(self, rec: Record) -> None:
        self.records.append(rec)
        kind = rec.get("type")
        if kind == "start":
            self.starts.append(rec)
            return
        if kind == "adopt":
            self.lineage.setdefault(rec["order"], []).append(
                Link(ord_no=rec["ord_no"], kind="adopt", job=None, t=rec["t"])
            )
            return
        if kind == "fill":
            self.fills[rec["order"]] = rec
            return
        if kind == "stop":
            return
        js = self.job(rec["job"])
        req = int(rec.get("req", 0))
        if kind == "intent":
            js.state = "sent"
            js.open_intents[req] = rec
        elif kind == "ack":
            js.open_intents.pop(req, None)
            js.unknown_reqs.pop(req, None)
            js.acked_reqs[req] = rec
            if rec.get("ord_no"):
                self.lineage.setdefault(rec["order"], []).append(
                    Link(
                        ord_no=rec["ord_no"],
                        kind=rec.get("kind", "?"),
                        job=rec["job"],
                        t=rec["t"],
                        base=rec.get("base_orig_ord_no"),
                        at=rec.get("at"),
                        working=not rec.get("partial", False),
                    )
                )
        elif kind == "rejected":
            js.open_intents.pop(req, None)
            js.unknown_reqs.pop(req, None)
        elif kind == "unknown":
            js.open_intents.pop(req, None)
            js.unknown_reqs[req] = rec
            js.state = "unknown"
        elif kind == "reconciled":
            js.open_intents.pop(req, None)
            js.unknown_reqs.pop(req, None)
            if not js.unknown_reqs:
                js.state = "sent"
        elif kind in ("done", "skipped", "failed"):
            js.state = kind
            js.reason = rec.get("reason", "")


def replay_lines(lines: Iterable[str], *, name: str = "journal") -> Replay:
    out = Replay()
    pending: list[tuple[int, str]] = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip()]
    for idx, (lineno, line) in enumerate(pending):
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "type" not in rec:
                raise ValueError("not a journal record")
        except ValueError as e:
            if idx == len(pending) - 1:
                out.torn_tail = True  # crash mid-write: the line never completed
                break
            raise JournalCorrupt(f"{name}:{lineno}: unreadable journal line ({e})") from e
        out.apply(rec)
    return out


def replay(path: Path) -> Replay:
    if not path.exists():
        return Replay()
    text = path.read_text(encoding="utf-8", errors="replace")
    return replay_lines(text.splitlines(), name=str(path))


class Journal:
    """Appends records durably; holds the one-runner-per-plan-day lock while open."""

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_suffix(".lock")
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._write_lock = threading.Lock()
        self.state = Replay()

    def open(self, *, lock: bool = True) -> Replay:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # plan names are private
        if lock:
            self._acquire_lock()
        self.state = replay(self.path)
        if self.state.torn_tail:
            # Drop the line a crash left half-written; it never completed, so the request
            # it announced was never sent (we send only after the intent is on disk).
            data = self.path.read_bytes()
            os.truncate(self.path, data.rstrip(b"\n").rfind(b"\n") + 1)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        size = os.fstat(self._fd).st_size
        if size and self.path.read_bytes()[-1:] != b"\n":
            os.write(self._fd, b"\n")  # a complete last record that lost its newline
        return self.state

    def _acquire_lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunError(
                f"another runner (pid {holder}) is running this plan for this day "
                f"({self.lock_path}); stop it first, or wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def append(self, rec: Record, *, sync: bool = False) -> Record:
        if self._fd is None:
            raise RuntimeError("journal is not open")
        rec = {"t": dt.datetime.now(SEOUL).isoformat(timespec="milliseconds"), **rec}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._write_lock:
            os.write(self._fd, line.encode("utf-8"))
            if sync:
                os.fsync(self._fd)
            self.state.apply(rec)
        return rec

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
