"""Scenario files: the market the simulator plays (price paths and fill behaviour).

    date: 2026-11-26            # optional: the day "HH:MM" points refer to
    start: "09:30"              # optional: a rehearsal's clock starts here (a runner
                                # started late); default: just before the plan's first job
    walk_every: 10s             # optional: random-walk step (default 10s)
    default: {price: 70000, fill: full}     # symbols not listed below (without a price:
                                # the built-in instrument table's, else 70,000)
    codes: listed               # the default: refuse (1902) codes neither listed here nor
                                # in the built-in instrument table, as Kiwoom refuses a
                                # code it does not list; `codes: open` trades any code
    symbols:
      "005930":
        base: 70000             # 기준가: daily limits are ±30% of it (default: first price)
        path: [["09:00", 70000], ["09:30", 69500], ["+90s", 69900]]
        walk: false             # random walk between points (default: only without a path)
        fill: {mode: partial, max_qty: 3}   # at most 3 shares per order per price event
    broker: {remainder: cancel}   # optional: broker behaviours left open (behaviour.py)

Times are Asia/Seoul on the scenario's day, or "+30s"/"+5m" offsets from the clock's
start. The format is documented in docs/simulator.md.

A scenario is read as a plan is (`planrunner/yamlfile.py`): `09:00` and `005930` stay
strings, duplicate keys and tags beyond plain data are refused, the file is bounded, and
a mistake in the YAML is named with its line and column. An empty file is the default
market.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planrunner.clock import parse_duration
from planrunner.errors import UsageError
from planrunner.sim.account import Account
from planrunner.yamlfile import load_text, read_bounded


class ScenarioError(UsageError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PathPoint:
    text: str
    price: int
    clock: dt.time | None = None
    offset: dt.timedelta | None = None

    def resolve(self, day: dt.date, start: dt.datetime) -> dt.datetime:
        if self.offset is not None:
            return start + self.offset
        assert self.clock is not None
        return dt.datetime.combine(day, self.clock, tzinfo=start.tzinfo)


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolScenario:
    symbol: str
    price: int  # the starting price
    base: int  # 기준가, for the daily limits and the sign of quotes
    name: str = ""
    path: tuple[PathPoint, ...] = ()
    walk: bool = True
    max_fill: int | None = None  # None: fill completely when crossed
    kind: str | None = None  # stock, etf, etn; None: the built-in instrument table's


DEFAULT_PRICE = 70_000  # where a code starts that neither the scenario nor the table prices


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    date: dt.date | None = None
    walk_every: dt.timedelta = dt.timedelta(seconds=10)
    # None: a code the scenario does not list starts at the built-in instrument table's
    # price (SK hynix near 550,000) under `codes: listed`, else at DEFAULT_PRICE; set,
    # every such code starts at it.
    default_price: int | None = None
    default_max_fill: int | None = None
    symbols: dict[str, SymbolScenario] = field(default_factory=dict)
    # "listed": only the scenario's codes, the built-in instrument table's and those
    # `also` names trade (others are refused as Kiwoom refuses a code it does not list).
    # "open": every code trades, all at the default price (the simulator before codes
    # were checked).
    codes: str = "listed"
    # Codes listed besides: a rehearsal's plan codes (the simulator cannot know Kiwoom's
    # list; a run asks the broker, ka10100).
    also: frozenset[str] = frozenset()
    account: Account | None = None  # holdings and cash; None: not modelled
    start: dt.time | None = None  # where a rehearsal's clock starts (None: the plan's)

    def listed(self, symbol: str) -> bool:
        from planrunner.krx import instruments

        return (
            self.codes == "open"
            or symbol in self.symbols
            or symbol in self.also
            or instruments.known(symbol) is not None
        )

    # broker behaviours the documentation leaves open (behaviour.py), e.g. {remainder: cancel}
    broker: dict[str, str] = field(default_factory=dict)

    def for_symbol(self, symbol: str) -> SymbolScenario:
        known = self.symbols.get(symbol)
        if known is not None:
            return known
        price = self.default_price
        if price is None and self.codes == "open":
            price = DEFAULT_PRICE  # any code, all alike
        if price is None:
            from planrunner.krx import instruments

            entry = instruments.known(symbol)
            price = entry.base if entry is not None and entry.base else DEFAULT_PRICE
        return SymbolScenario(
            symbol=symbol,
            price=price,
            base=price,
            max_fill=self.default_max_fill,
        )


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScenarioError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _point(item: object, where: str) -> PathPoint:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
        raise ScenarioError(f'{where}: expected ["HH:MM[:SS]" or "+30s", price]')
    text, price = item[0], _int(item[1], where)
    if text.startswith("+"):
        return PathPoint(text=text, price=price, offset=parse_duration(text[1:]))
    try:
        return PathPoint(text=text, price=price, clock=dt.time.fromisoformat(text))
    except ValueError:
        raise ScenarioError(f"{where}: bad time {text!r}") from None


def _max_fill(value: object, where: str) -> int | None:
    if value is None or value == "full":
        return None
    if isinstance(value, dict) and value.get("mode") == "partial":
        return _int(value.get("max_qty"), f"{where}.max_qty")
    if isinstance(value, dict) and value.get("mode") == "full":
        return None
    raise ScenarioError(f"{where}: expected full or {{mode: partial, max_qty: N}}")


def _symbol(symbol: str, raw: Any, default_fill: int | None) -> SymbolScenario:
    where = f"symbols.{symbol}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    path = tuple(_point(p, f"{where}.path[{i}]") for i, p in enumerate(raw.get("path") or []))
    first = raw.get("price", path[0].price if path else raw.get("base"))
    price = _int(first, f"{where}.price")
    return SymbolScenario(
        symbol=symbol,
        name=str(raw.get("name", "")),
        price=price,
        base=_int(raw.get("base", price), f"{where}.base"),
        path=path,
        walk=_flag(raw.get("walk", not path), f"{where}.walk"),
        max_fill=_max_fill(raw["fill"], f"{where}.fill") if "fill" in raw else default_fill,
        kind=_kind(raw.get("kind"), f"{where}.kind"),
    )


# YAML 1.1's words for true and false: the reader keeps them as text (a plan's `on`
# is not a boolean), and a scenario's `walk: no` means what it always meant.
_WORDS = {w: v for v, ws in ((True, ("yes", "on")), (False, ("no", "off"))) for w in ws}


def _flag(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _WORDS:
        return _WORDS[value.lower()]
    raise ScenarioError(f"{where}: expected true or false, got {value!r}")


def _account(raw: object) -> Account | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScenarioError("account: expected {cash: N, holdings: {code: qty}}")
    holdings = raw.get("holdings") or {}
    if not isinstance(holdings, dict):
        raise ScenarioError("account.holdings: expected {code: qty}")
    cash = raw.get("cash", 0)
    if isinstance(cash, bool) or not isinstance(cash, int) or cash < 0:
        raise ScenarioError(f"account.cash: expected won, got {cash!r}")
    return Account(
        cash=cash,
        holdings={str(k): _int(v, f"account.holdings.{k}") for k, v in holdings.items()},
    )


def _codes(value: object) -> str:
    if value not in ("open", "listed"):
        raise ScenarioError(f"codes: expected open or listed, got {value!r}")
    return str(value)


def _kind(value: object, where: str) -> str | None:
    if value is None:
        return None
    if value not in ("stock", "etf", "etn"):
        raise ScenarioError(f"{where}: expected stock, etf or etn, got {value!r}")
    return str(value)


def _broker(raw: object) -> dict[str, str]:
    from planrunner.sim.behaviour import Behaviour, BehaviourError

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError("broker: expected a mapping like {remainder: cancel}")
    values = {str(k): str(v) for k, v in raw.items()}
    try:
        Behaviour.parse(values)
    except BehaviourError as e:
        raise ScenarioError(f"broker: {e}") from None
    return values


def _start(value: object) -> dt.time | None:
    if value is None:
        return None
    text = str(value)
    if not re.fullmatch(r"[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?", text):
        raise ScenarioError(f'start: expected a clock time "HH:MM[:SS]", not {text!r}')
    return dt.time.fromisoformat(text)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    loaded = load_text(text, source, what="scenario", allow_empty=True)
    if loaded.problems:
        first = loaded.problems[0]
        raise ScenarioError(f"{first.file}:{first.line}:{first.col}: {first.message}")
    return _scenario(loaded.data or {}, source)  # empty: the default market


def _scenario(raw: Any, source: str) -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top")
    try:
        default = raw.get("default") or {}
        default_fill = _max_fill(default.get("fill"), "default.fill")
        day = raw.get("date")
        symbols = {
            str(s): _symbol(str(s), v, default_fill) for s, v in (raw.get("symbols") or {}).items()
        }
        return Scenario(
            date=dt.date.fromisoformat(str(day)) if day is not None else None,
            walk_every=parse_duration(str(raw.get("walk_every", "10s"))),
            default_price=(
                None if default.get("price") is None else _int(default["price"], "default.price")
            ),
            default_max_fill=default_fill,
            symbols=symbols,
            codes=_codes(raw.get("codes", "listed")),
            account=_account(raw.get("account")),
            broker=_broker(raw.get("broker")),
            start=_start(raw.get("start")),
        )
    except ScenarioError as e:
        raise ScenarioError(f"{source}: {e}") from None
    except ValueError as e:
        raise ScenarioError(f"{source}: {e}") from None


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = read_bounded(p, what="scenario").decode("utf-8")
    except OSError as e:
        raise ScenarioError(f"cannot read scenario {p}: {e.strerror}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ScenarioError(f"cannot read scenario {p}: {e}") from None
    return parse_scenario(text, str(p))
