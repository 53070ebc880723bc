"""Each plan code's instrument kind from the broker (ka10100), asked once per code and day.

The kind decides the tick grid and price bands (planrunner.krx.instruments). At `run`
against Kiwoom, every code of the plan is looked up with ka10100 (its `marketCode`); the
answers are kept in STATE_DIR/instruments/DAY.ENV.json, so a resumed run checks with the same
kinds and asks nothing again. An order's `instrument:` in the plan wins over the broker;
a disagreement is a warning. A code the broker cannot answer for keeps the built-in
table's kind, or a stock's, with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from planrunner.errors import BrokerError
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.exceptions import UnknownSymbol
from planrunner.krx import instruments
from planrunner.plan.rules import Plan


def cache_path(state_dir: Path, day: dt.date, env: str) -> Path:
    return state_dir / "instruments" / f"{day.isoformat()}.{env}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Per process and thread: the plans of one process (app/several.py) write it side by side.
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def broker_kinds(
    client: KiwoomClient, plan: Plan, day: dt.date, state_dir: Path, env: str
) -> tuple[dict[str, str], list[str]]:
    """({code: kind} for the plan's undeclared codes the broker named, warnings). `day`
    is the day of asking, `env` the broker (mock, live, a URL's label): one file each."""
    path = cache_path(state_dir, day, env)
    cache = _read(path)
    asked = False
    notes: list[str] = []
    declared: dict[str, str] = {}
    codes: set[str] = set()
    for spec in plan.orders.values():
        codes.add(spec.symbol)
        if spec.instrument:
            declared.setdefault(spec.symbol, spec.instrument)
    kinds: dict[str, str] = {}
    failed: BrokerError | None = None  # after one failure (keys, network), ask no more
    for code in sorted(codes):
        entry = cache.get(code)
        if not isinstance(entry, dict):
            if failed is not None:
                notes.append(
                    f"{code}: not asked ({failed.__class__.__name__} before); its prices are "
                    f"checked on the {_fallback(code, declared)} grid"
                )
                continue
            try:
                info = client.stock_info(code)
            except UnknownSymbol as exc:
                notes.append(
                    f"{code}: the broker does not list this code ({exc}): its orders will "
                    "be refused"
                )
                continue
            except BrokerError as exc:
                failed = exc
                notes.append(
                    f"{code}: the broker did not say what instrument it is ({exc}); its "
                    f"prices are checked on the {_fallback(code, declared)} grid"
                )
                continue  # not cached: asked again next time
            entry = {
                "name": info.name,
                "market_code": info.market_code,
                "market_name": info.market_name,
                "kind": instruments.kind_from_market(info.market_code, info.market_name),
            }
            cache[code] = entry
            asked = True
        kind = entry.get("kind")
        market = f"{entry.get('market_name') or '?'} (marketCode {entry.get('market_code')!r})"
        if kind not in instruments.KINDS:
            notes.append(
                f"{code}: the broker lists it under market {market}, which has no tick grid "
                f"planrunner knows; its prices are checked on the {_fallback(code, declared)} grid"
            )
        elif code in declared and declared[code] != kind:
            notes.append(
                f"{code}: the plan declares `instrument: {declared[code]}` but the broker "
                f"lists it as {kind} ({market}); checked as the plan declares"
            )
        elif code not in declared:
            kinds[code] = kind
    if asked:
        _write(path, cache)
    return kinds, notes


def _fallback(code: str, declared: dict[str, str]) -> str:
    """The grid a code is checked on without the broker's word: declared, table, stock."""
    return instruments.kind_of(code, declared.get(code))
