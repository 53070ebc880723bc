"""What kind of instrument a code is (stock, ETF, ETN): it decides the tick grid.

Where the kind comes from, first match wins:
1. the plan: `instrument: etf` on an order (OrderSpec.instrument);
2. the built-in table `planrunner/data/instruments.yaml` (well-known codes, with sources);
3. otherwise a stock — `validate` says so for a code the table does not know.

The broker is not asked: no REST API documents a field that names ETF/ETN per code on
the quote we read (ka10001), and `show`/`validate` must work without network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

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
    text = resources.files("planrunner").joinpath("data/instruments.yaml").read_text("utf-8")
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
