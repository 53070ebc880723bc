"""Several plans in one process on one app key, and one process per app key.

`planrunner run A.yaml B.yaml …` runs the plans side by side, each in a thread of its own
with its own journal, lock, identity check, summary and attention list, over what they
share: one client (one token, one rate limiter whose line puts every plan's orders before
every plan's reads) and one live feed (one WebSocket, each plan's price symbols
registered on it, every event handed to each plan, which keeps its own; its URL, drops
and returns said once for the process, not once per plan). What cannot be
combined is refused before anything is sent: the same plan twice, two plans with one
journal name, two plans adopting the same order, a rehearsal (each --sim run has its own
market).

One process per app key: a run on Kiwoom (or --base-url) holds an flock on a file in the
state directory named by a hash of the environment and the app key (never the key), for
as long as it runs. A second `planrunner run` on the same key is refused and told to run
the plans together; two processes would each keep to the key's limits and together
overrun them. `cancel-all` does not take it: the kill switch always runs.

A plan of a multi-plan process stops alone: `cancel-all` leaves a stop request for it
(`stop-request.PID` beside its journals), which the process takes within a tenth of a
second; the other plans go on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import glob
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planrunner.app.targets import Target
from planrunner.engine.events import INFO, Event, RunResult
from planrunner.engine.pushprices import FeedNotice
from planrunner.errors import ExitCode, RunError, UsageError
from planrunner.kiwoom.types import ord_key
from planrunner.plan.rules import load_plan

if TYPE_CHECKING:
    from planrunner.app.launch import RunOptions
    from planrunner.kiwoom.feed import Feed
    from planrunner.kiwoom.ratelimit import RateLimiter

_log = logging.getLogger(__name__)

# Worst first: a bug, an interruption, attention, a plan problem, success.
_SEVERITY = (ExitCode.INTERNAL, ExitCode.INTERRUPTED, ExitCode.ATTENTION, ExitCode.PLAN, 0)


class KeyBusy(RunError):
    """Another process runs plans on this app key."""


def worst(codes: Iterable[int]) -> int:
    """The exit code of several plans: the worst of theirs."""
    given = set(codes)
    for code in _SEVERITY:
        if code in given:
            return int(code)
    return max(given, default=0)


def expand(args: Sequence[str]) -> list[Path]:
    """Plan arguments as files: a pattern (`plans/*.yaml`, quoted so the shell left it)
    is expanded in sorted order; a name that is neither an existing path nor a matching
    pattern is an error (a path that is not a regular file is left to the plan loader,
    which refuses it as such)."""
    out: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.exists() or p.is_symlink():  # not a regular file: the plan loader says so
            out.append(p)
            continue
        if glob.has_magic(arg):
            found = sorted(Path(m) for m in glob.glob(arg) if Path(m).is_file())
            if not found:
                raise UsageError(f"{arg}: no plan file matches")
            out.extend(found)
            continue
        raise UsageError(f"{arg}: no such plan file")
    return out


@dataclass(frozen=True, slots=True)
class Member:
    """One plan of a multi-plan run: its file, its name (the output's prefix), its
    journals' folder name, and the orders it takes over (`--adopt`)."""

    path: Path
    name: str
    journal_name: str
    adopt: tuple[tuple[str, str], ...]


ACK_SECONDS = 3.0  # how long cancel-all waits for a runner to take its stop request


def stop_request(plan_dir: Path, pid: int) -> Path:
    """The file by which `cancel-all` asks the process `pid` to stop one plan (whose
    journals are in `plan_dir`): the process takes it (deletes it) and stops that plan
    alone; the other plans of the process go on."""
    return plan_dir / f"stop-request.{pid}"


class StopRequests:
    """Watches the stop requests addressed to this process, one per plan folder, and
    sets that plan's stop event; a thread while `until` is not set."""

    def __init__(self, plans: dict[Path, threading.Event], until: threading.Event) -> None:
        self._plans = plans
        self._until = until
        self._thread = threading.Thread(target=self._run, name="stop-requests", daemon=True)

    def __enter__(self) -> StopRequests:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._until.set()
        self._thread.join(5)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._until.wait(0.1):
            for plan_dir, event in self._plans.items():
                request = stop_request(plan_dir, pid)
                if request.exists():
                    with contextlib.suppress(OSError):
                        request.unlink()  # taken: cancel-all need not signal the process
                    event.set()


def members(
    paths: Sequence[Path], params: dict[str, str], adopt: Sequence[tuple[str, str, str | None]]
) -> list[Member]:
    """Check that the plans can run together; `adopt`: (order id, ord_no, plan name or
    None) from `--adopt [PLAN:]ID=ORD_NO`. Raises UsageError naming what clashes."""
    seen: dict[Path, Path] = {}
    names: dict[str, Path] = {}
    plans = []
    for path in paths:
        real = path.resolve()
        if real in seen:
            raise UsageError(f"{path}: the same plan is given twice (as {seen[real]} and {path})")
        seen[real] = path
        plan = load_plan(path, params, defer_unknown_kinds=True)
        if plan.journal_name in names:
            raise UsageError(
                f"{path} and {names[plan.journal_name]} both have name: {plan.name}: they "
                "would share one journal. Give each plan its own name:"
            )
        names[plan.journal_name] = path
        plans.append((path, plan))
    adopted: dict[str, list[tuple[str, str]]] = {str(p): [] for p, _ in plans}
    for order_id, ord_no, where in adopt:
        owners = [
            str(p) for p, plan in plans if order_id in plan.orders and where in (None, plan.name)
        ]
        spelled = f"{where + ':' if where else ''}{order_id}={ord_no}"
        if not owners:
            raise UsageError(f"--adopt {spelled}: no plan given has an order {order_id!r}")
        if len(owners) > 1:
            raise UsageError(
                f"--adopt {spelled}: {' and '.join(owners)} both have an order {order_id!r}; "
                f"say which plan: --adopt NAME:{order_id}={ord_no}"
            )
        adopted[owners[0]].append((order_id, ord_no))
    taken: dict[str, str] = {}
    for path, plan in plans:
        mine = [(o, n) for o, n in adopted[str(path)]]
        mine += [(oid, s.adopt) for oid, s in plan.orders.items() if s.adopt]
        for order_id, ord_no in mine:
            who = f"{plan.name}:{order_id}"
            key = ord_key(ord_no)  # 0000001 and 00000001 are one order
            if key in taken and taken[key] != who:
                raise UsageError(
                    f"order {ord_no} would be adopted twice ({taken[key]} and {who}): "
                    "one order is managed by one plan"
                )
            taken[key] = who
    return [
        Member(path=p, name=plan.name, journal_name=plan.journal_name, adopt=tuple(adopted[str(p)]))
        for p, plan in plans  # the --adopt of a member is its own
    ]


class Fanout:
    """A feed listener handing every event to each plan's listener (each keeps what is
    its own: its symbols' prices, its order numbers' events). A plan that ends leaves
    (`remove`); one plan's listener failing never keeps an event from the others nor
    ends the feed's thread (a plan whose journal is closed or failed cannot take a
    fill, and the other plans' stops still need their prices)."""

    def __init__(
        self,
        announce: Callable[[Event], None] | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Any] = []
        self._up: tuple[bool, str] | None = None
        # The feed's state said once for the process (not once per plan), when given.
        self.announce = announce
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._notice = FeedNotice()
        self._orders_live = False  # the `00` registration of this connection acknowledged

    def add(self, listener: Any) -> None:
        with self._lock:
            self._listeners.append(listener)
            state = self._up
            if self._orders_live:
                # Its events flow from here on, so its standing read counts (under the
                # lock: a drop's `state(False)` reaches it after this, never before).
                listener.orders_live()
        if state is not None:
            listener.state(*state)  # it came after the feed said so

    def remove(self, listener: Any) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _each(self, call: Callable[[Any], None]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                call(listener)
            except Exception:  # that plan's own failure; the others go on
                _log.warning("a plan's feed listener failed", exc_info=True)

    def price(self, tick: Any) -> None:
        self._each(lambda listener: listener.price(tick))

    def order(self, event: Any) -> None:
        self._each(lambda listener: listener.order(event))

    def state(self, up: bool, why: str) -> None:
        with self._lock:
            self._up = (up, why)
            _changed, said = self._notice.change(up, why)
            self._orders_live = self._orders_live and up
        self._each(lambda listener: listener.state(up, why))
        if said is not None:
            self.say(said[0], said[1])

    def say(self, kind: str, text: str) -> None:
        if self.announce is None:
            return
        try:
            self.announce(Event(kind=kind, at=self._now(), message=text))
        except Exception:  # output is never what stops the feed
            _log.warning("the feed's state could not be said", exc_info=True)

    def orders_live(self) -> None:
        with self._lock:
            self._orders_live = True
        self._each(lambda listener: listener.orders_live())

    def gap(self, why: str) -> None:
        self._each(lambda listener: listener.gap(why))


@dataclass(slots=True)
class Shared:
    """What the plans of one process share: the target (client, token, rate limiter)
    and the live feed, started by the first plan that asks for it."""

    target: Target
    fanout: Fanout = field(default_factory=Fanout)
    feed: Feed | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def feed_for(self, listener: Any, symbols: Iterable[str]) -> Feed:
        from planrunner.kiwoom.feed import Feed, ws_url_for

        with self._lock:
            if self.feed is None:
                url = ws_url_for(self.target.client.base_url)
                self.feed = Feed(url, self.target.client.tokens, self.fanout)
                self.feed.watch_orders()
                self.fanout.say(INFO, f"live feed: {self.feed.url}")  # before its state
                self.feed.start()
            feed = self.feed
        self.fanout.add(listener)
        feed.watch_prices(sorted(set(symbols)))
        return feed

    def leave(self, listener: Any) -> None:
        """A plan ended: its listener gets no more events (its journal is closing)."""
        self.fanout.remove(listener)

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()
        self.target.client.close()


def key_file(state_dir: Path, env: str, appkey: str) -> Path:
    digest = hashlib.sha256(f"{env}\0{appkey}".encode()).hexdigest()[:24]
    return state_dir / "keys" / f"{digest}.lock"


LEDGER_HORIZON = 60.0  # seconds: a key's budget left by an older run is refilled by now


class KeyHold:
    """The app key's lock as this process holds it, with the key's rate budget across
    processes: Kiwoom counts the key's requests, not a process's, so a run started right
    after another (Ctrl-C, then `planrunner run A B` as the refusal advises) starts from
    what the run before left spent (`owed`: seconds until each bucket is full, as of
    now), and leaves its own when it ends. A run killed outright leaves nothing: the next
    one may meet a 1700/1701 in its first seconds, which the client resends (a refused
    request was not executed). What the run before left counts down from when its note
    was read: a client built later (after a confirmation) owes only what is left, and a
    run that ends before it built one passes what is left on."""

    def __init__(self, owed: dict[str, float]) -> None:
        self.owed = owed
        self._read = time.monotonic()
        self._limiters: list[RateLimiter] = []

    def left(self) -> dict[str, float]:
        """What the run before left that is still owed now."""
        elapsed = time.monotonic() - self._read
        return {name: s - elapsed for name, s in self.owed.items() if s > elapsed}

    def take_over(self, limiter: RateLimiter) -> None:
        """`limiter` (the run's client's) starts from what the run before left."""
        limiter.owe(self.left())
        self._limiters.append(limiter)

    def owing(self) -> dict[str, float]:
        out = self.left()
        for limiter in self._limiters:
            for name, seconds in limiter.owed().items():
                out[name] = max(seconds, out.get(name, 0.0))
        return out


def _owed_now(note: dict[str, Any], now: float) -> dict[str, float]:
    """What a lock note left (`ended`, `owed`) still owes at `now` (wall clock)."""
    ended, owed = _number(note.get("ended")), note.get("owed")
    if ended is None or not isinstance(owed, dict):
        return {}
    elapsed = max(0.0, now - ended)  # a clock set back counts as no time passed
    if elapsed > LEDGER_HORIZON:
        return {}
    out = {}
    for name, value in owed.items():
        seconds = _number(value)
        if isinstance(name, str) and seconds is not None and seconds > elapsed:
            out[name] = min(seconds, LEDGER_HORIZON) - elapsed
    return out


def _number(value: Any) -> float | None:
    """A finite number from a note (which any program may have written), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:  # an int past a float's range
        return None
    return out if math.isfinite(out) else None


def _note(fd: int) -> dict[str, Any]:
    try:
        got = json.loads(os.pread(fd, 65536, 0) or b"{}")
    except (OSError, ValueError, RecursionError):  # RecursionError: nesting too deep
        return {}
    return got if isinstance(got, dict) else {}


@contextlib.contextmanager
def hold_key(state_dir: Path, env: str, appkey: str, plans: Sequence[Path]) -> Iterator[KeyHold]:
    """The one-process-per-key lock, held while the block runs; a second process on the
    same key gets KeyBusy (exit 2, like a plan's own lock) naming the first and the
    multi-plan form. The lock's note carries the key's spent budget from one run to the
    next (KeyHold); the key itself is never written."""
    path = key_file(state_dir, env, appkey)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KeyBusy(_busy(fd, plans)) from None
        hold = KeyHold(_owed_now(_note(fd), time.time()))
        note: dict[str, Any] = {"pid": os.getpid(), "plans": [str(p.resolve()) for p in plans]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(note).encode(), 0)
        try:
            yield hold
        finally:
            note.update(ended=time.time(), owed=hold.owing())
            with contextlib.suppress(OSError):  # a full disk costs the next run a resend
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(note).encode(), 0)
    finally:
        os.close(fd)  # releases the lock


def _busy(fd: int, plans: Sequence[Path]) -> str:
    holder = _note(fd)
    pid = holder.get("pid")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) else "?"
    listed = holder.get("plans")
    theirs = [str(p) for p in listed if isinstance(p, str)] if isinstance(listed, list) else []
    ours = [str(p) for p in plans]
    together = " ".join(dict.fromkeys([*theirs, *ours]))
    return (
        f"another runner (pid {pid}) is using this app key"
        + (f" ({', '.join(theirs)})" if theirs else "")
        + ": two processes would together overrun the key's rate limit. Run the plans "
        f"in one process: stop it (Ctrl-C; its plans resume from their journals) and run "
        f"planrunner run {together}"
    )


def run_several(
    group: Sequence[Member],
    opts: RunOptions,
    *,
    emit_for: Callable[[Member], Callable[[Any], None]],
    on_error: Callable[[Member, BaseException], int],
    stop: threading.Event,
    on_target: Callable[[Target], None] | None = None,
    announce: Callable[[Event], None] | None = None,
) -> dict[str, RunResult | int]:
    """Run the plans of `group` side by side on one shared target (not --sim); each
    result, or the exit code of the error that ended the plan, by plan name. `announce`:
    where what concerns every plan is said once (the shared feed's URL and its state);
    without it each plan says it in its own output."""
    from dataclasses import replace

    from planrunner.app.launch import remote_target, run_plan

    if opts.mode == "sim":
        raise UsageError(
            "several plans rehearse together against one simulator: start `planrunner sim` "
            "and run them with --dry-run --base-url URL (each --sim run has its own market)"
        )
    target = remote_target(opts, opts.mode == "live")
    shared = Shared(target, fanout=Fanout(announce, target.clock.now))
    if on_target is not None:
        on_target(target)
    out: dict[str, RunResult | int] = {}

    stops = {m.name: threading.Event() for m in group}  # one plan stops alone (cancel-all)

    def one(member: Member) -> None:
        try:
            out[member.name] = run_plan(
                member.path,
                replace(opts, adopt=member.adopt),
                emit=emit_for(member),
                stop=stops[member.name],
                shared=shared,
            )
        except BaseException as e:
            out[member.name] = on_error(member, e)

    threads = [
        threading.Thread(target=one, args=(m,), name=f"plan-{m.name}", daemon=True) for m in group
    ]
    watched = {opts.state_dir / m.journal_name: stops[m.name] for m in group}
    try:
        with StopRequests(watched, threading.Event()):
            for th in threads:
                th.start()
            for th in threads:
                while th.is_alive():
                    th.join(0.2)  # the main thread stays free for signals
                    if stop.is_set():  # Ctrl-C, SIGTERM: every plan stops
                        for event in stops.values():
                            event.set()
    finally:
        shared.close()
    return out
