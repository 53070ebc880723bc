"""`sim`: the Kiwoom-compatible simulator on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from planrunner.cli.options import EXISTING_FILE, broker_option, choice_option, handled
from planrunner.errors import UsageError


def _sim_clock(kind: str, speed: float, start: str | None) -> tuple[Any, str]:
    import datetime as dt

    from planrunner.clock import SEOUL, RealClock, VirtualClock
    from planrunner.sim import default_start

    if speed <= 0:
        raise UsageError("--speed must be positive")
    if kind == "real":
        if start is not None:
            raise UsageError("--start goes with --clock virtual")
        return RealClock(), "clock: real (Asia/Seoul), session hours as they are now"
    begin = default_start()
    if start is not None:
        try:
            parsed = dt.datetime.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start {start!r}: write it like 2026-11-26T09:00") from None
        begin = parsed if parsed.tzinfo else parsed.replace(tzinfo=SEOUL)
    desc = f"clock: virtual from {begin.isoformat()} at {speed:g}x"
    return VirtualClock(begin, speed), desc


@click.command("sim")
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--scenario",
    type=EXISTING_FILE,
    default=None,
    help="Price paths and fill behaviour (YAML, docs/simulator.md).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject a fault, e.g. rate_limit:api=kt10000,count=2 (repeatable).",
)
@choice_option(
    "--clock",
    "clock_kind",
    choices=["virtual", "real"],
    default="virtual",
    help="virtual: starts 09:00 of the next trading day.",
)
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="Virtual seconds per real second."
)
@click.option("--start", default=None, help="Virtual clock start, e.g. 2026-11-26T09:00.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random walk and faults.")
@choice_option(
    "--env",
    choices=["mock", "live"],
    default="mock",
    help="The environment the simulator plays (keys of the other one: 8030).",
)
@click.option(
    "--first-ord-no",
    type=int,
    default=1,
    show_default=True,
    help="The first order number it hands out.",
)
@broker_option(
    "A broker behaviour the documentation leaves open (repeatable; README "
    "'Broker behaviours we could not verify'): remainder=original|cancel, "
    "orig_ord_no=parent|root, all_qty=quantity|zeros, base_orig_ord_no=root|target, "
    "padding=7|none, fills_list=filled|all. The first value is the default."
)
@click.option(
    "--codes",
    type=click.Choice(["listed", "open"]),
    default=None,
    help=(
        "listed (the default, unless the scenario says): refuse codes neither the scenario "
        "nor the built-in instrument table lists, as Kiwoom refuses an unknown code (1902); "
        "open: trade any code."
    ),
)
@choice_option(
    "--rate-limit",
    "rate_limit",
    choices=["off", "mock", "live"],
    default="off",
    help=(
        "Enforce a request budget per app key as Kiwoom does, refusing the excess with "
        "1700 (an api-id over its rate) or 1701 (the key over its overall rate): mock "
        "1/s per api-id (burst 2) and 3/s overall; live 3/s per api-id and 8/s overall "
        "(the client's own defaults, docs/simulator.md)."
    ),
)
@handled
def sim_command(
    port: int,
    scenario: Path | None,
    faults: tuple[str, ...],
    clock_kind: str,
    speed: float,
    start: str | None,
    seed: int,
    env: str,
    first_ord_no: int,
    broker: tuple[str, ...],
    codes: str | None,
    rate_limit: str,
) -> None:
    """Serve the Kiwoom-compatible simulator on 127.0.0.1; prints its base URL first."""
    import signal
    import threading

    from planrunner.sim import Simulator, parse_fault
    from planrunner.sim.behaviour import Behaviour, BehaviourError

    try:
        behaviour = Behaviour.parse(broker) if broker else None
    except BehaviourError as e:
        raise UsageError(str(e)) from None
    rules = [parse_fault(spec) for spec in faults]
    clock, clock_desc = _sim_clock(clock_kind, speed, start)
    simulator = Simulator(
        clock=clock,
        scenario=scenario,
        seed=seed,
        env="live" if env == "live" else "mock",
        first_ord_no=first_ord_no,
        behaviour=behaviour,
        codes=codes,
        budget=None if rate_limit == "off" else rate_limit,
    )
    for rule in rules:
        simulator.faults.add(rule)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = simulator.serve(port=port)
    try:
        click.echo(server.url)
        sys.stdout.flush()
        changed = simulator.behaviour.changed()
        desc = clock_desc + (f"; faults: {', '.join(faults)}" if faults else "")
        if rate_limit != "off":
            desc += f"; rate limit: {rate_limit}"
        if changed:
            desc += "; broker: " + ", ".join(f"{k}={v}" for k, v in changed.items())
        click.echo(desc)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.close()


COMMANDS = (sim_command,)
