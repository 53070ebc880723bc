"""Run modes: where orders go, with which keys, on which clock.

    --sim      the embedded simulator, in-process, on a compressed virtual clock
    --dry-run  Kiwoom's mock domain (or --base-url), real clock, keys from the environment
    --live     Kiwoom's live domain, behind a typed confirmation and a clean git tree

Keys are read from KIWOOM_APPKEY / KIWOOM_SECRETKEY only (no .env), and never printed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import os
import re
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from planrunner.clock import SEOUL, Clock, RealClock, VirtualClock
from planrunner.errors import RunError, UsageError
from planrunner.kiwoom import codes
from planrunner.kiwoom.client import KiwoomClient, url_parts
from planrunner.kiwoom.ratelimit import RateLimits
from planrunner.krx import days, ticks
from planrunner.model import PRICED_TYPES, CompiledPlan, OrderSpec
from planrunner.plan.load import read_plan_bytes

if TYPE_CHECKING:
    from planrunner.sim import Scenario, Simulator

MOCK_HOST = "mockapi.kiwoom.com"
SIM_TARGET_SECONDS = 22.0  # a whole day rehearses in about this long by default
SIM_KEY = "sim-appkey"  # the embedded simulator takes any key; these are not secrets
SIM_SECRET = "sim-secretkey"


@dataclass(slots=True, kw_only=True)
class Target:
    mode: str  # sim | dry-run | live
    env: str  # the journal's environment label: sim, mock, live, local-127.0.0.1-8080
    client: KiwoomClient
    clock: Clock
    enforce_session: bool = True
    simulator: Simulator | None = None  # the rehearsal's simulator (--sim only)
    notes: list[str] = field(default_factory=list)


def warm_up(target: Target, day: dt.date) -> None:
    """Pay the one-time costs (token, calendar data, connection) before the first job, so
    they do not make it late; a virtual clock then starts its day from here."""
    days.is_trading_day(day)
    target.client.token()
    if isinstance(target.clock, VirtualClock):
        target.clock.restart()


def keys_from_env() -> tuple[str, str]:
    appkey = os.environ.get("KIWOOM_APPKEY", "")
    secret = os.environ.get("KIWOOM_SECRETKEY", "")
    missing = [n for n, v in (("KIWOOM_APPKEY", appkey), ("KIWOOM_SECRETKEY", secret)) if not v]
    if missing:
        raise UsageError(
            f"{' and '.join(missing)} not set: export the app key and secret key of your "
            "Kiwoom account (mock keys for --dry-run, live keys for --live); "
            "a .env file is not read"
        )
    return appkey, secret


def is_loopback(host: str) -> bool:
    """Whether a URL's host names this machine: `localhost`, or an address in 127.0.0.0/8
    or ::1 in any form the system resolver reads as one (127.1, 0x7f000001, 2130706433,
    ::ffff:127.0.0.1); case and a trailing dot do not matter. 0.0.0.0 is not loopback."""
    h = host.strip("[]").lower().rstrip(".")
    if h == "localhost":
        return True
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(h)
    except ValueError:
        # inet_aton's forms (what getaddrinfo accepts for a numeric host): 127.1, 0x7f.1…
        if not re.fullmatch(r"[0-9a-fx.]+", h):
            return False
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def dry_run_host(base_url: str) -> str:
    """Where `--dry-run --base-url` may go: "mock" (Kiwoom's mock domain) or "loopback"
    (a server on this machine, e.g. `planrunner sim`). Anything else is refused before a
    connection is made: the live domain in any spelling is reached only through --live."""
    scheme, host, userinfo = url_parts(base_url)  # as the client will connect
    if scheme not in ("http", "https") or not host:
        raise UsageError(f"--base-url {base_url!r}: write http(s)://HOST[:PORT]")
    if userinfo:
        raise UsageError("--base-url must not carry a user name or password")
    host = host.lower().rstrip(".")
    try:
        other = (urlparse(base_url).hostname or "").lower().rstrip(".")
    except ValueError:
        other = ""
    if other != host.strip("[]"):
        raise UsageError(f"--base-url {base_url!r}: the host is ambiguous")
    if host == MOCK_HOST:
        return "mock"
    if is_loopback(host):
        return "loopback"
    raise UsageError(
        f"--dry-run goes to Kiwoom's mock domain ({MOCK_HOST}) or a server on this machine "
        f"(a loopback address), not {host}: nothing was sent (live trading needs --live)"
    )


def env_label(base_url: str | None, default: str) -> str:
    if not base_url:
        return default
    u = urlparse(base_url)
    host = re.sub(r"[^A-Za-z0-9]+", "-", f"{u.hostname}-{u.port or ''}").strip("-")
    return f"local-{host}"


def sim_window(plan: CompiledPlan) -> tuple[dt.datetime, dt.datetime]:
    """The slice of the day a rehearsal covers: from just before the first job (or the open)
    to just after the last job or trigger window (the close when the plan has oco groups)."""
    s = days.session(plan.day)
    open_at = dt.datetime.combine(plan.day, s.regular.start, tzinfo=SEOUL)
    times = [j.at for j in plan.jobs]
    start = min([*times, open_at]) - dt.timedelta(seconds=5)
    ends = [*times, start + dt.timedelta(minutes=1)]
    for t in plan.triggers:
        b = t.between[1] if t.between else s.regular.end
        ends.append(dt.datetime.combine(plan.day, b, tzinfo=SEOUL))
    if plan.oco:  # a group is watched until both legs close, at most to the close
        ends.append(dt.datetime.combine(plan.day, s.regular.end, tzinfo=SEOUL))
    return start, max(ends) + dt.timedelta(seconds=5)


def scenario_start(scenario: Path | None) -> dt.time | None:
    """The clock time a rehearsal's scenario starts the clock at (`start:`), if any."""
    if scenario is None:
        return None
    from planrunner.sim import load_scenario

    return load_scenario(scenario).start


def sim_speed(start: dt.datetime, end: dt.datetime, speed: float | None) -> float:
    if speed is not None:
        if speed <= 0:
            raise UsageError("--speed must be positive")
        return speed
    return max(1.0, (end - start).total_seconds() / SIM_TARGET_SECONDS)


def build_sim(
    *,
    start: dt.datetime,
    speed: float,
    scenario: Path | Scenario | None,
    seed: int,
    prices: dict[str, int],
    adopted: tuple[OrderSpec, ...] = (),
    codes: Iterable[str] = (),
) -> Target:
    """The rehearsal's target: a simulator on a virtual clock. `codes` (the plan's) trade
    even when neither the scenario nor the built-in table lists them: the simulator cannot
    know Kiwoom's list, and a run asks the broker (ka10100) before any order."""
    from planrunner.sim import Scenario, Simulator, load_scenario

    clock = VirtualClock(start, speed)
    story = load_scenario(scenario) if isinstance(scenario, Path) else scenario or Scenario()
    story = dataclasses.replace(story, also=story.also | frozenset(codes))
    notes = []
    if story.date is not None and story.date != start.date():
        # A rehearsal plays the scenario on the plan's day, whatever day it was written for.
        notes.append(f"scenario written for {story.date}: played on {start.date()} instead")
        story = dataclasses.replace(story, date=None)
    # The embedded simulator plays the live domain: NXT and SOR orders are accepted there
    # (Kiwoom's mock domain takes KRX only).
    sim = Simulator(clock=clock, scenario=story, seed=seed, env="live")
    for symbol, price in prices.items():
        if symbol not in story.symbols:  # no path given: a seeded walk from the plan's price
            sim.set_price(symbol, price)
    client = KiwoomClient(
        appkey=SIM_KEY, secretkey=SIM_SECRET, env="sim", transport=sim.transport(), clock=clock
    )
    for spec in sorted(adopted, key=lambda s: s.adopt or ""):
        _recreate(sim, client, spec)
    return Target(mode="sim", env="sim", client=client, clock=clock, simulator=sim, notes=notes)


def _recreate(sim: Simulator, client: KiwoomClient, spec: OrderSpec) -> None:
    """An adopted order is already at the broker: put it in the fresh simulator under its
    own number, resting a few ticks away from the market so the plan has time to act."""
    assert spec.adopt is not None
    sim.set_next_ord_no(int(spec.adopt))
    price = spec.price
    if price is None and spec.order_type in PRICED_TYPES:
        market = client.quote(spec.symbol).price
        price = ticks.step(market, -5 if spec.side == "buy" else 5)
    client.place(
        symbol=spec.symbol,
        side=spec.side,
        qty=spec.qty or 1,
        price=price,
        order_type=spec.order_type,
        exchange=spec.exchange,
        stop_price=spec.stop_price,
    )


def build_remote(
    *,
    live: bool,
    base_url: str | None,
    state_dir: Path,
    appkey: str,
    secret: str,
    rate_limit: str | None = None,
) -> Target:
    """`rate_limit`: the client's budget (mock, live or off); None: the target's own (off
    for a server on this machine, else the environment's)."""
    env = "live" if live else "mock"
    if base_url and live:
        raise UsageError("--base-url goes with --dry-run, not --live")
    where = dry_run_host(base_url) if base_url else None
    if where == "mock":  # the mock domain however it is written: the plain --dry-run
        base_url = None
    local = where == "loopback"
    client = KiwoomClient(
        appkey=appkey,
        secretkey=secret,
        env="mock" if not live else "live",
        base_url=base_url or (codes.LIVE_URL if live else codes.MOCK_URL),
        token_cache_dir=state_dir / "tokens",
        # A server on this machine (planrunner sim) is not Kiwoom's: no broker rate limit
        # unless asked for (`--rate-limit mock` against `planrunner sim --rate-limit mock`).
        rate_limits=_limits(rate_limit, local),
    )
    target = Target(
        mode="live" if live else "dry-run",
        env=env_label(base_url, env),
        client=client,
        clock=RealClock(),
        enforce_session=base_url is None,
    )
    if base_url:
        target.notes.append(
            f"{base_url} keeps its own hours: calendar and session refusals are warnings"
        )
    return target


def _limits(choice: str | None, local: bool) -> RateLimits | None:
    if choice is None:
        return RateLimits.for_env("sim") if local else None
    return RateLimits.for_env("sim" if choice == "off" else choice)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(read_plan_bytes(path)).hexdigest()


def git_state(path: Path) -> tuple[str | None, bool]:
    """(commit of HEAD, whether the file differs from its content at HEAD or is not in it).

    The file's bytes are compared with the blob committed at HEAD, not with git's own
    view of the work tree, which `update-index --assume-unchanged` or `--skip-worktree`
    tell to look away from an edited file."""
    real = path.resolve()
    d = str(real.parent)
    head = subprocess.run(["git", "-C", d, "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return None, True
    commit = head.stdout.strip()
    blob = subprocess.run(
        ["git", "-C", d, "cat-file", "blob", f"{commit}:./{real.name}"], capture_output=True
    )
    if blob.returncode != 0:  # untracked, or not in that commit
        return commit, True
    try:
        return commit, blob.stdout != read_plan_bytes(real)
    except (OSError, ValueError):
        return commit, True


def live_guard(path: Path, *, allow_dirty: bool) -> str | None:
    commit, dirty = git_state(path)
    if dirty and not allow_dirty:
        where = "is not committed in git" if commit else "is not in a git repository"
        raise RunError(
            f"{path} {where}: --live runs only committed plans, so the journal can name the "
            "exact plan that traded (commit it, or pass --allow-dirty)"
        )
    return commit
