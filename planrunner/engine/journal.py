"""The append-only JSONL journal: the runner's memory across crashes and restarts.

Journal first: an `intent` line is appended, completely written and fsynced before every
order POST; its outcome (`ack`, `rejected`, `unknown`) follows. `replay` rebuilds, from
the lines alone, which jobs are done, which requests are in doubt, and each order's
number lineage.

Record types (every line has `type` first, then `job`/`req` when it has them, and `t`,
the wall-clock time; a torn line then still tells what it was):
    start      format, pid, mode, env, file, sha256, git_commit, run_start, timeline
    adopt      order, ord_no
    intent     job, req (index of the request within the job), order, kind, api_id, body,
               twins? (a place: the numbers of identical orders the broker listed before
               its POST; absent: not read, e.g. the read failed), twins_read? ("open" |
               "open+fills": the lists read), twins_from? ("read": read before the POST;
               "feed": the live feed's standing read and `00` events, engine/standing.py;
               absent in older journals: read)
    ack        job, req, order, kind, ord_no, base_orig_ord_no, qty
    rejected   job, req, order, code, message
    unknown    job, req, order, error
    reconciled job, req, order, found (bool), ord_no?
    doubt      job, req, order, why (a reconcile left the request in doubt: why; no state)
    fill       order, ord_no, filled, remaining, at? (when seen), value? (filled × fill
               price, cumulative), numbers? (filled per number), time? ("broker": then
               filled_at is the broker's time of the fill; "seen": not told, after? is the
               earliest it can have filled), qty?, price?, broker_time?, source? (feed)
    price      symbol, price, at, source, capped? (a market price observed; prices.py)
    skipped    job, code (outcome.SkipCode: routine or attention), reason
    done       job
    failed     job, reason
    late       job, late, window (on_late place: the job goes out late; before its intent)
    stop       reason, exit_code
A torn last line (a crash mid-write) that is not an intent is dropped; a torn intent is
kept as an intent in doubt (`torn: true`) and reconciled like any other: it is never
taken for "never sent". A bad line anywhere else is an error. A journal whose start
record has a newer `format` than FORMAT is refused.

Failures: a write that fails or is short (`os.write` returning fewer bytes, OSError)
breaks the journal: it raises JournalWriteError, and so does every later append, so
nothing more is sent (the caller sends only after `append(intent)` returned).

Threads: records are appended by the job threads, the trigger watcher and reconcile at
once. `Replay.apply` runs under the journal's lock and never mutates a container a reader
may hold: it replaces `jobs`, `lineage`, `fills` and each JobState's dicts with new ones
(copy-on-write), so a reader in another thread iterates a consistent snapshot.

The one-runner lock is an flock on the journal file itself, held from `open` to `close`:
the OS releases it when the process ends, and there is no separate file to delete.
Secrets never reach this file: callers pass request bodies, never headers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planrunner.clock import SEOUL
from planrunner.errors import RunError
from planrunner.redact import redact

Record = dict[str, Any]

# Version of the record layout, written in every start record. 1: journals before it had
# one. 2: the lock is the journal itself; a torn intent is kept in doubt; start records
# carry the plan's timeline. 3: `price` records (observed market prices). 4: `trail`
# records (a trailing stop's level) and fills pushed by the live feed. 5: a place's intent
# lists its `twins` (an older reader would ignore them and could claim one). A reader
# refuses a journal of a newer format than its own.
FORMAT = 5


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "planrunner"


def journal_path(state_dir: Path, plan_name: str, day: dt.date, env: str) -> Path:
    return state_dir / plan_name / f"{day.isoformat()}.{env}.jsonl"


class JournalCorrupt(RunError):
    pass


class JournalTooNew(RunError):
    """The journal was written by a newer planrunner in a layout this one cannot read."""


class JournalWriteError(RunError):
    """A record could not be written completely: nothing more may be sent."""


class ImpossibleTransition(RunError):
    """A record that no correct run can write in the job's state (a bug: refused)."""


def _count(value: object) -> int | None:
    """A whole number from a record's field (an int, or the wire's digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return abs(int(value))
    return None


def _sent_price(ack: Record, intent: Record | None) -> int | None:
    """The limit price a place, modify or replace was sent with: its ack's `price` (a
    modify's), else its intent's body (`ord_uv`, `mdfy_uv`); None for a market order
    (no price on the wire), a cancel, or a request whose intent this replay lacks."""
    if ack.get("kind") in ("cancel", "adopt", "market"):
        return None
    price = _count(ack.get("price"))
    if price:
        return price
    body = (intent or {}).get("body") or {}
    if isinstance(body, dict):
        price = _count(body.get("ord_uv") or body.get("mdfy_uv"))
    return price or None


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
    qty: int | None = None  # what the number was for (a cancel: what it cancelled), if said
    price: int | None = None  # its limit price as sent (None: a market order, a cancel)


FINAL = frozenset({"done", "skipped", "failed"})

# Job states and the records that move them: (state now, record type) -> state after.
# A record that changes a job's state and is not listed here is impossible and raises
# (above all: a finished job never sends again). Outcome records (`ack`, `rejected`)
# and `reconciled` settle one request and leave the state alone, except that settling
# a job's last unknown request makes it `sent` again.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "intent"): "sent",
    ("sent", "intent"): "sent",
    ("sent", "unknown"): "unknown",
    ("unknown", "unknown"): "unknown",
    **{(s, final): final for s in ("pending", "sent", "unknown") for final in FINAL},
    # A finished job may be finished again (a repeated trigger, a late report of a skip
    # after a failure): the state says how it ended last.
    **{(s, final): final for s in FINAL for final in FINAL},
}
STATE_RECORDS = frozenset({"intent", "unknown", *FINAL})


@dataclass(slots=True, kw_only=True)
class JobState:
    """One job as the journal tells it. Its dicts are replaced, never mutated, by
    `Replay.apply` (a reader in another thread may hold the old ones)."""

    state: str = "pending"  # pending | sent | done | skipped | failed | unknown
    reason: str = ""
    # The state as `run` names it (a `failed` record may say rejected, in doubt, unknown)
    # and, for a failed job, the typed reason it needs attention (attention.py).
    label: str = "pending"
    attention: str = ""
    code: str = ""  # a skip's code (outcome.SkipCode)
    acked_reqs: dict[int, Record] = field(default_factory=dict)
    open_intents: dict[int, Record] = field(default_factory=dict)  # intent without outcome
    unknown_reqs: dict[int, Record] = field(default_factory=dict)


def _without(d: dict[int, Record], key: int) -> dict[int, Record]:
    return {k: v for k, v in d.items() if k != key} if key in d else d


@dataclass(slots=True, kw_only=True)
class Replay:
    """What a journal says, folded. Written by one `apply` at a time (under `lock`);
    read from any thread: the containers a reader gets are snapshots (copy-on-write)."""

    records: list[Record] = field(default_factory=list)
    starts: list[Record] = field(default_factory=list)
    jobs: dict[str, JobState] = field(default_factory=dict)
    lineage: dict[str, list[Link]] = field(default_factory=dict)
    fills: dict[str, Record] = field(default_factory=dict)
    trails: dict[str, Record] = field(default_factory=dict)  # trigger id -> its last level
    late: dict[str, Record] = field(default_factory=dict)  # job -> its `late` record
    torn_tail: bool = False
    torn_intent: Record | None = None  # a torn last line that was an intent: in doubt
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def run_start(self) -> dt.datetime | None:
        if not self.starts:
            return None
        return dt.datetime.fromisoformat(self.starts[0]["run_start"])

    def job(self, job_id: str) -> JobState:
        """The job's state (a blank one, not stored, for a job the journal never saw)."""
        return self.jobs.get(job_id) or JobState()

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

    def check(self, rec: Record) -> None:
        """Raise ImpossibleTransition if `rec` cannot follow what the journal says."""
        kind = rec.get("type")
        if kind not in STATE_RECORDS:
            return
        state = self.job(rec["job"]).state
        if (state, kind) not in TRANSITIONS:
            raise ImpossibleTransition(
                f"journal: {kind!r} is impossible for job {rec['job']} in state {state!r}"
                + (" (a finished job never sends again)" if kind == "intent" else "")
            )

    def apply(self, rec: Record) -> None:
        with self.lock:
            self._apply(rec)

    def _job_for_update(self, job_id: str) -> JobState:
        js = self.jobs.get(job_id)
        if js is None:
            js = JobState()
            self.jobs = {**self.jobs, job_id: js}
        return js

    def _link(self, order: str, link: Link) -> None:
        self.lineage = {**self.lineage, order: [*self.lineage.get(order, []), link]}

    def _apply(self, rec: Record) -> None:
        self.records.append(rec)
        kind = rec.get("type")
        if kind == "start":
            fmt = rec.get("format", 1)
            if not isinstance(fmt, int) or fmt > FORMAT:
                raise JournalTooNew(
                    f"this journal was written by a newer planrunner (journal format {fmt}; "
                    f"this planrunner reads formats up to {FORMAT}): upgrade planrunner to "
                    "resume it, or run with --fresh to start a new journal beside it"
                )
            self.starts.append(rec)
            return
        if kind == "adopt":
            self._link(rec["order"], Link(ord_no=rec["ord_no"], kind="adopt", job=None, t=rec["t"]))
            return
        if kind == "fill":
            self.fills = {**self.fills, rec["order"]: rec}
            return
        if kind == "trail":
            self.trails = {**self.trails, rec["trigger"]: rec}
            return
        if kind == "late":  # on_late place: the job went out late (its state says how)
            self.late = {**self.late, rec["job"]: rec}
            return
        # no job's state: said, kept, not replayed ("output": a stream closed under a run)
        if kind in ("stop", "attention", "price", "output", "doubt"):
            return
        self.check(rec)
        js = self._job_for_update(rec["job"])
        req = int(rec.get("req", 0))
        if kind == "intent":
            js.state = TRANSITIONS[(js.state, kind)]
            js.label = js.state
            js.open_intents = {**js.open_intents, req: rec}
        elif kind == "ack":
            intent = js.open_intents.get(req)
            js.open_intents = _without(js.open_intents, req)
            js.unknown_reqs = _without(js.unknown_reqs, req)
            js.acked_reqs = {**js.acked_reqs, req: rec}
            if rec.get("ord_no"):
                self._link(
                    rec["order"],
                    Link(
                        ord_no=rec["ord_no"],
                        kind=rec.get("kind", "?"),
                        job=rec["job"],
                        t=rec["t"],
                        base=rec.get("base_orig_ord_no"),
                        at=rec.get("at"),
                        working=not rec.get("partial", False),
                        qty=_count(rec.get("qty")),
                        price=_sent_price(rec, intent),
                    ),
                )
        elif kind == "rejected":
            js.open_intents = _without(js.open_intents, req)
            js.unknown_reqs = _without(js.unknown_reqs, req)
        elif kind == "unknown":
            js.open_intents = _without(js.open_intents, req)
            js.unknown_reqs = {**js.unknown_reqs, req: rec}
            js.state = js.label = TRANSITIONS[(js.state, kind)]
        elif kind == "reconciled":
            js.open_intents = _without(js.open_intents, req)
            js.unknown_reqs = _without(js.unknown_reqs, req)
            if not js.unknown_reqs and js.state == "unknown":
                js.state = js.label = "sent"
        elif kind in FINAL:
            js.state = TRANSITIONS[(js.state, kind)]
            js.label = str(rec.get("state") or kind)
            js.attention = str(rec.get("attention") or "")
            js.code = str(rec.get("code") or "")
            js.reason = rec.get("reason", "")


_TYPE = re.compile(r'"type":"(\w+)"')
_STR = re.compile(r'"(job|order|kind|api_id|t|at)":("(?:[^"\\]|\\.)*")')
_REQ = re.compile(r'"req":(\d+)[,}]')
_BODY = re.compile(r'"body":(\{[^{}]*\})')


def fill_time(rec: Record) -> tuple[str, str]:
    """When a journaled fill happened, and how that is known: (ISO time, "broker") from
    the broker's time of the fill (`filled_at`: the feed's order event, or an order that
    fills on arrival; `broker_time`, the feed's time in a format 4 journal); else (ISO
    time, "seen"): when the run saw it (an older journal; a resting order read by
    polling, whose fills the broker's lists do not time)."""
    seen = str(rec.get("at") or rec.get("t") or "")
    if rec.get("filled_at"):
        return str(rec["filled_at"]), "broker"
    told = str(rec.get("broker_time") or "")
    if len(told) == 8 and len(seen) >= 10:
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(f"{seen[:10]}T{told}+09:00").isoformat(), "broker"
    return seen, "seen"


def _torn(line: str, name: str, lineno: int) -> Record | None:
    """What a torn last line was: None if it was no intent (it can be dropped); the
    intent as far as it can be read (in doubt); JournalCorrupt if it cannot be told."""
    m = _TYPE.search(line)
    if m is not None and m.group(1) != "intent":
        return None
    fields: Record = {k: json.loads(v) for k, v in _STR.findall(line)}
    req = _REQ.search(line)
    if m is None or "job" not in fields or req is None:
        raise JournalCorrupt(
            f"{name}:{lineno}: the last line was cut off before it said which request it "
            "was: it may be an order request that reached the broker. Check the broker's "
            "open orders and fills for this plan's symbols, then remove that line to go on"
        )
    rec: Record = {"type": "intent", **fields, "req": int(req.group(1)), "torn": True}
    body = _BODY.search(line)
    if body is not None:
        with contextlib.suppress(ValueError):
            rec["body"] = json.loads(body.group(1))
    rec.setdefault("t", "")
    return rec


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
                # A crash mid-write: the line never completed. An intent cut off may still
                # have been sent (by an older planrunner, or a write that lied): in doubt.
                out.torn_tail = True
                out.torn_intent = _torn(line, name, lineno)
                if out.torn_intent is not None:
                    out.apply(out.torn_intent)
                break
            raise JournalCorrupt(f"{name}:{lineno}: unreadable journal line ({e})") from e
        try:
            out.apply(rec)
        except (KeyError, ValueError, TypeError) as e:
            raise JournalCorrupt(f"{name}:{lineno}: malformed journal record ({e})") from e
        except ImpossibleTransition as e:
            raise JournalCorrupt(f"{name}:{lineno}: {e}") from e
    return out


def replay(path: Path) -> Replay:
    if not path.exists():
        return Replay()
    text = path.read_text(encoding="utf-8", errors="replace")
    return replay_lines(text.splitlines(), name=str(path))


def _first_keys(rec: Record) -> Record:
    """`type`, then `job` and `req`, first: a line cut off still says what it was."""
    head: Record = {k: rec[k] for k in ("type", "job", "req") if k in rec}
    return {**head, **{k: v for k, v in rec.items() if k not in head}}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def holder_pid(path: Path) -> int | None:
    """The pid of the runner holding this journal's lock, None if nobody holds it, -1 if
    it is held but the journal does not say by whom yet."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
    pid = -1
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"start"' in line:
                try:
                    pid = int(json.loads(line).get("pid", -1))
                except (ValueError, AttributeError):
                    continue
    except OSError:
        return -1
    return pid


def set_aside_name(path: Path) -> Path:
    """Where a journal is kept when a fresh one takes its place: `<day>.<env>.<n>.jsonl`."""
    stamp = int(path.stat().st_mtime)
    kept = path.with_name(f"{path.stem}.{stamp}.jsonl")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.stem}.{stamp}-{n}.jsonl")
    return kept


class Journal:
    """Appends records durably; holds the one-runner-per-plan-day lock while open.

    Threads: `append` may be called from any thread (job threads, the trigger watcher,
    reconcile); one append at a time writes and folds its record (`_write_lock`).
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._write_lock = threading.Lock()
        self.state = Replay()
        self.failure: str | None = None  # set by the first failed write; nothing is sent after
        self.kept: Path | None = None  # the older journal `open(fresh=True)` set aside
        self._made: tuple[bool, bool] = (False, False)  # open created (the file, its folder)

    def open(self, *, lock: bool = True, fresh: bool = False) -> Replay:
        """Lock and read the journal. `fresh`: an existing journal is renamed beside the
        new one (`set_aside_name`) while its lock is held, so a runner still using it
        refuses this one instead of sharing the plan's day."""
        parent = self.path.parent
        made = not parent.exists()
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # plan names are private
        if made:
            _fsync_dir(parent.parent)
        old: int | None = None
        try:
            if fresh and self.path.exists():
                old = self._lock_fd(lock)
                self.kept = set_aside_name(self.path)
                os.rename(self.path, self.kept)
            existed = self.path.exists()
            self._fd = self._lock_fd(lock)
        finally:
            if old is not None:
                os.close(old)
        self._made = (not existed, made)
        if not existed or self.kept is not None:
            _fsync_dir(parent)  # the new file's name survives a power cut
        self.state = replay(self.path)
        if self.state.torn_tail:
            data = self.path.read_bytes()
            os.ftruncate(self._fd, data.rstrip(b"\n").rfind(b"\n") + 1)
            if self.state.torn_intent is not None:
                line = json.dumps(_first_keys(self.state.torn_intent), ensure_ascii=False)
                self._write((line + "\n").encode("utf-8"), sync=True)
        size = os.fstat(self._fd).st_size
        if size and self.path.read_bytes()[-1:] != b"\n":
            self._write(b"\n", sync=False)  # a complete last record that lost its newline
        return self.state

    def _lock_fd(self, lock: bool) -> int:
        """Open the journal (creating it) and take its lock; retry if the name was moved
        to another file between the open and the lock."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            if not lock:
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = holder_pid(self.path)
                who = f"pid {holder}" if holder and holder > 0 else "pid unknown"
                raise RunError(
                    f"another runner ({who}) is running this plan for this day "
                    f"({self.path}); stop it first, or wait for it to finish"
                ) from None
            if self._is_ours(fd):
                return fd
            os.close(fd)

    def _is_ours(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino) and stat.S_ISREG(st.st_mode)

    def _write(self, data: bytes, *, sync: bool) -> None:
        assert self._fd is not None
        n = os.write(self._fd, data)
        if n != len(data):
            raise OSError(f"short write: {n} of {len(data)} bytes reached the disk")
        if sync:
            os.fsync(self._fd)

    def append(self, rec: Record, *, sync: bool = False) -> Record:
        """Write one record (and fsync it with `sync`), then fold it into `state`.
        Raises JournalWriteError if it could not be written completely, and for every
        record after such a failure: the caller must not send what it announced."""
        if self._fd is None:
            raise RuntimeError("journal is not open")
        rec = _first_keys({**rec, "t": dt.datetime.now(SEOUL).isoformat(timespec="milliseconds")})
        # a failure's text may quote what a library saw, a key or a token: never kept
        line = redact(json.dumps(rec, ensure_ascii=False, separators=(",", ":"))) + "\n"
        with self._write_lock:
            if self.failure is not None:
                raise JournalWriteError(self.failure)
            self.state.check(rec)  # before anything reaches the disk
            try:
                if rec["type"] == "intent" and not self._is_ours(self._fd):
                    raise OSError("the journal file was removed or replaced during the run")
                self._write(line.encode("utf-8"), sync=sync)
            except OSError as e:
                self.failure = f"the journal {self.path} could not be written ({e})"
                if rec["type"] != "intent":
                    self.state.apply(rec)  # it happened: the report must still say so
                raise JournalWriteError(
                    f"{self.failure}: nothing more is sent; the run stops"
                ) from e
            self.state.apply(rec)
        return rec

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as e:
                self.failure = self.failure or f"the journal {self.path} could not be synced ({e})"
            os.close(self._fd)  # releases the lock
            self._fd = None

    def abandon(self) -> None:
        """Close after an open that wrote nothing (a run refused before its first
        record): the state directory is left as it was found. The empty file this open
        created is removed (and the plan's folder, if this open made it and nothing else
        is in it); a journal `open(fresh=True)` set aside is put back in its place. A
        journal with any record is only closed."""
        try:
            if self._fd is not None and os.fstat(self._fd).st_size == 0 and self._is_ours(self._fd):
                created, made = self._made
                if self.kept is not None:
                    os.rename(self.kept, self.path)  # over the empty one, under its lock
                    self.kept = None
                    _fsync_dir(self.path.parent)
                elif created:
                    os.unlink(self.path)
                    if made:
                        with contextlib.suppress(OSError):
                            self.path.parent.rmdir()  # only if nothing else is in it
                    _fsync_dir(
                        self.path.parent if self.path.parent.exists() else self.path.parent.parent
                    )
        except OSError:
            pass  # what could not be undone stays: an empty journal is read as a new one
        finally:
            self.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
