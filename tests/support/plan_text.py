"""A small valid plan to mutate in tests (not a conftest: imported where needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planrunner.plan.compile import check_file

DAY = dt.date(2026, 11, 26)  # a Thursday, a KRX trading day
NOW = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))

BASE = """\
version: 1
name: t
orders:
  entry:
    symbol: "005930"
    side: buy
    qty: 10
    price: 70000
    at: "09:00:05"
"""


def chain(name: str) -> str:
    """Place 10, raise the price, trim to 6, cancel, a second apart from the run's start
    (relative times: it runs on any day, under any clock)."""
    return f"""\
version: 1
name: {name}
description: Place, raise, trim to 6, cancel, a second apart.
orders:
  entry: {{symbol: "005930", side: buy, qty: 10, price: 69000, at: "+1s"}}
steps:
  - at: "+2s"
    modify: {{order: entry, price: 69100}}
  - at: "+3s"
    modify: {{order: entry, qty: 6}}
  - at: "+4s"
    cancel: {{order: entry}}
"""


def reprice_then_cancel(
    name: str,
    *,
    price: int,
    place: str = "+1s",
    modify: str = "+2s",
    cancel: str = "+3s",
    more: str = "",
) -> str:
    """`entry` bids 10 005930 at `price` at `place`, is raised 100 at `modify` and
    cancelled at `cancel`; `more`: plan text after the steps (a `triggers:` block)."""
    return f"""\
version: 1
name: {name}
orders:
  entry: {{symbol: "005930", side: buy, qty: 10, price: {price}, at: "{place}"}}
steps:
  - at: "{modify}"
    modify: {{order: entry, price: {price + 100}}}
  - at: "{cancel}"
    cancel: {{order: entry}}
{more}"""


def problems(tmp_path: Path, text: str, *, day: dt.date | None = DAY) -> list[str]:
    """Every problem of a plan text, as `line:col: $.path: message` lines."""
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8")
    return [str(p).removeprefix(f"{f}:") for p in check_file(f, day=day, now=NOW)]


def stop_loss(name: str, below: int, until: str, steps: str = "", about: str = "") -> str:
    """`entry` bids 10 005930 at 69,500 from 09:00:05, then `steps` (a `steps:` block);
    its trigger `stop` sends what is left of it to market once the price falls below
    `below`, between 09:00 and `until`. `about`: the plan's description."""
    description = f"description: {about}\n" if about else ""
    return f"""\
version: 1
name: {name}
{description}orders:
  entry: {{symbol: "005930", side: buy, qty: 10, price: 69500, at: "09:00:05"}}
{steps}triggers:
  - {{id: stop, when: {{price: {{symbol: "005930", below: {below}}}}}, market: {{order: entry}},
     between: ["09:00", "{until}"]}}
"""


def falling(path: str, fill: str) -> str:
    """The market: 005930 alone, from 70,000 along `path` (a scenario `path`, no random
    walk), its fills as `fill` says."""
    return f"""\
symbols:
  "005930": {{base: 70000, walk: false, path: {path},
              fill: {fill}}}
"""


def plan_of(
    name: str, *orders: str, steps: tuple[str, ...] = (), more: str = "", about: str = ""
) -> str:
    """The plan text `name` with its `orders` (each `id: {fields}`, one line), its `steps`
    (each one step's flow mapping, `{at: "+4s", cancel: {order: e}}`) and `more` (further
    blocks as written: triggers, params); `about`: its description. The tests' small
    plans, spelled out but for the lines every plan has."""
    lines = ["version: 1", f"name: {name}", *([f"description: {about}"] if about else [])]
    lines += ["orders:", *(f"  {o}" for o in orders)]
    if steps:
        lines += ["steps:", *(f"  - {s}" for s in steps)]
    return "\n".join(lines) + "\n" + more
