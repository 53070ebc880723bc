"""What kind of instrument a code is (stock, ETF, ETN): it decides the tick grid.

Where the kind comes from, first match wins:
1. the plan: `instrument: etf` on an order (OrderSpec.instrument);
2. at `run` against Kiwoom: the broker's ka10100 answer (its `marketCode`, see
   `kind_from_market`), asked once per code and day (planrunner.app.kinds);
3. the built-in table `planrunner/data/instruments.yaml` (well-known codes, with sources);
4. otherwise a stock — `validate` (no network) says so for a code the table does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from planrunner import package_text
from planrunner.model import OrderSpec

KINDS = ("stock", "etf", "etn")
DEFAULT_KIND = "stock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    code: str
    kind: str
    name: str = ""
    base: int | None = None  # simulator only: an approximate recent price


@cache
def table() -> dict[str, Instrument]:
    """The built-in table, read once."""
    text = package_text("data/instruments.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
    raw = yaml.load(text, Loader=loader) or {}
    out: dict[str, Instrument] = {}
    for code, entry in (raw.get("instruments") or {}).items():
        kind = str(entry.get("kind", DEFAULT_KIND))
        if kind not in KINDS:
            raise ValueError(f"instruments.yaml: {code}: unknown kind {kind!r}")
        base = entry.get("base")
        out[str(code)] = Instrument(
            code=str(code),
            kind=kind,
            name=str(entry.get("name", "")),
            base=int(base) if base is not None else None,
        )
    return out


# ka10100 marketCode -> kind. Kiwoom's market codes (the ka10099 `mrkt_tp` list): 0 KOSPI,
# 10 KOSDAQ, 50 KONEX, 30 K-OTC, 6 REITs, 4 mutual funds, 9 high-yield funds trade on the
# stock grid; 8 is ETF. ETN's code is not in the public list we found: "60" and a market
# name containing "ETN" are taken as ETN (unverified). 3 ELW, 5 subscription warrants and
# anything else: no kind (the caller warns and keeps the plan's or the table's).
MARKET_KINDS = {"0": "stock", "10": "stock", "50": "stock", "30": "stock", "6": "stock"}
MARKET_KINDS |= {"4": "stock", "9": "stock", "8": "etf", "60": "etn"}
KIND_MARKETS = {"stock": ("0", "거래소"), "etf": ("8", "ETF"), "etn": ("60", "ETN")}


def kind_from_market(market_code: str, market_name: str = "") -> str | None:
    """The kind a ka10100 answer names, or None when its market has no grid we know."""
    if "ETN" in market_name.upper():
        return "etn"
    if "ETF" in market_name.upper():
        return "etf"
    return MARKET_KINDS.get(market_code.strip())


def known(code: str) -> Instrument | None:
    return table().get(code)


def kind_of(code: str, declared: str | None = None) -> str:
    """The kind to check `code` as: the declared one, the table's, else a stock."""
    if declared:
        return declared
    entry = table().get(code)
    return entry.kind if entry is not None else DEFAULT_KIND


def order_kind(spec: OrderSpec) -> str:
    """The kind an order's prices are checked as: its `instrument`, else the table's."""
    return kind_of(spec.symbol, spec.instrument)
