"""The day's report: a journal folded into figures, and figures drawn as one HTML file.

Two pure functions: `figures(state, ...)` reads a replayed journal (any mode: rehearsal,
dry-run, live) and returns plain data (orders, lineage, fills, fees, taxes, P&L, the
attention list, the plan's identity); `render_html(figures)` draws that data as one
self-contained page. `report --format json` prints the very same figures.

The charts are plain inline SVG written here, not a charting library: the picture is a few
step lines, markers and shaded bands per symbol, which takes less code than wiring a
library; the page then needs no JavaScript, no CDN and no network, opens offline in any
browser or mail client, and stays a few kilobytes.

Figures come from the journal only. Fill prices are the broker's, as journaled with each
fill record (`value`: filled quantity × fill price over the order's lineage); a journal
written before fills carried it shows the quantities without prices. The price path is
the journal's `price` records: what the run itself read (trigger polls, pre-send quote
reads, a feed), kept on change and bounded (engine/prices.py); a plan that reads no
price (no trigger, no price check) has a sparse path or none, and the page says so.

Fees and taxes are estimates from `Rates`: the shipped table (planrunner/data/rates.yaml,
each default with its source and the date it was checked), overridden by the plan's
`rates:` section, a JSON file or options (`load_rates`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from planrunner.clock import SEOUL
from planrunner.engine.attention import late_seconds, late_state, sent_late
from planrunner.engine.journal import Record, Replay, fill_time
from planrunner.errors import UsageError
from planrunner.krx import days
from planrunner.model import TRIGGER_JOB, parse_trigger_job


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """Cost rates as fractions of the traded value (0.00015 is 0.015 %)."""

    fee: float  # the brokerage fee, charged on buys and sells
    tax: float  # the securities transaction tax incl. the rural special tax, on sells only
    source: str  # where the rates in force came from, in one line
    fee_source: str = ""  # the table's source of the default fee (when it is in force)
    tax_source: str = ""  # the table's source of the default tax row (when it is in force)


@lru_cache(maxsize=1)
def rate_table() -> dict[str, Any]:
    """The shipped table (planrunner/data/rates.yaml): the fee, and the tax by the date
    it applies from, each row with its source."""
    import yaml

    from planrunner import package_text

    text = package_text("data/rates.yaml")
    data: dict[str, Any] = yaml.safe_load(text)
    data["tax"] = sorted(data["tax"], key=lambda row: row["from"])
    return data


def settlement_day(day: dt.date) -> dt.date:
    """The day shares sold on `day` are transferred (T+2 trading days): the tax is that
    day's (a sell on 2025-12-29 settles on 2026-01-02 and pays the 2026 rate)."""
    return days.next_trading_day(days.next_trading_day(day, include=False), include=False)


def default_rates(day: dt.date) -> Rates:
    """The table's fee, and its tax row in force on the settlement day of a trade on `day`
    (the earliest row for a day before the table starts)."""
    table = rate_table()
    settles = settlement_day(day)
    rows = [row for row in table["tax"] if row["from"] <= settles] or table["tax"][:1]
    row = rows[-1]
    fee = table["fee"]
    return Rates(
        fee=float(fee["rate"]),
        tax=float(row["rate"]),
        source=f"the shipped table (tax row from {row['from']})",
        fee_source=" ".join(str(fee["source"]).split()),
        tax_source=f"from {row['from']}: KOSPI {row['kospi']}; KOSDAQ {row['kosdaq']}. "
        + " ".join(str(row["source"]).split()),
    )


def _rate_value(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 0.1:
        raise UsageError(
            f"{where}: {name} rate {value!r}: give a fraction of the value, e.g. 0.00015"
        )
    return float(value)


def load_rates(
    day: dt.date,
    *,
    plan: dict[str, float] | None = None,
    file: Path | None = None,
    fee: float | None = None,
    tax: float | None = None,
) -> Rates:
    """The table's rates for the day, overridden in this order (the last one wins): the
    plan's `rates:` section, a JSON file (`{"fee": 0.00015, "tax": 0.002}`, fractions of
    the value), then explicit values (`--fee-rate`, `--tax-rate`)."""
    rates = default_rates(day)
    layers: list[tuple[str, dict[str, Any]]] = []
    if plan:
        layers.append(("the plan's rates", dict(plan)))
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"--rates {file}: cannot read it as JSON ({e})") from None
        if not isinstance(data, dict) or not set(data) <= {"fee", "tax"}:
            raise UsageError(f'--rates {file}: write {{"fee": 0.00015, "tax": 0.002}}')
        layers.append((str(file), data))
    given = {k: v for k, v in (("fee", fee), ("tax", tax)) if v is not None}
    if given:
        layers.append(("options", given))
    notes = []
    for where, values in layers:
        for name in ("fee", "tax"):
            if name not in values:
                continue
            value = _rate_value(name, values[name], where)
            said = f"overridden by {where}"
            rates = (
                replace(rates, fee=value, fee_source=said)
                if name == "fee"
                else replace(rates, tax=value, tax_source=said)
            )
            notes.append(f"{name} {value * 100:.4g} % ({where})")
    if notes:
        rates = replace(rates, source=f"overridden: {', '.join(notes)}; else {rates.source}")
    return rates


def _when(rec: Record) -> str:
    """The record's time on the plan's clock (virtual in a rehearsal), else its wall time."""
    return str(rec.get("at") or rec.get("t") or "")


def _side(api_id: str | None) -> str:
    return {"kt10000": "buy", "kt10001": "sell"}.get(api_id or "", "")


def _int(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def _order_skeletons(state: Replay, plan_orders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    orders: dict[str, Any] = {}
    for oid, spec in plan_orders.items():
        orders[oid] = {"order": oid, **spec, "steps": [], "fills": [], "lineage": []}
    seen_filled: dict[str, int] = {}
    for rec in state.records:
        order = rec.get("order")
        if not order or rec.get("type") not in ("intent", "adopt", "fill", "ack"):
            continue
        o = orders.setdefault(
            order,
            {"order": order, "symbol": "", "side": "", "qty": 0, "steps": [], "fills": []},
        )
        o.setdefault("lineage", [])
        if rec["type"] == "intent" and rec.get("kind") in ("place", "market", "replace"):
            body = rec.get("body") or {}
            o["symbol"] = o.get("symbol") or body.get("stk_cd", "")
            o["side"] = o.get("side") or _side(rec.get("api_id"))
            if rec.get("kind") == "place":
                o["qty"] = o.get("qty") or _int(body.get("ord_qty"))
            elif rec.get("kind") == "replace":  # the new total: filled before + the new order
                o["qty"] = seen_filled.get(order, 0) + _int(body.get("ord_qty"))
        elif rec["type"] == "fill":
            seen_filled[order] = max(seen_filled.get(order, 0), _int(rec.get("filled")))
    return orders


def _limit_steps(state: Replay) -> dict[str, list[dict[str, Any]]]:
    """Each order's limit price over time: one point per acked place, modify, market
    switch or replacement, and a closing point at its acked cancel."""
    intents: dict[tuple[str, int], Record] = {}
    steps: dict[str, list[dict[str, Any]]] = {}
    for rec in state.records:
        kind = rec.get("type")
        if kind == "intent":
            intents[(rec["job"], int(rec.get("req", 0)))] = rec
        elif kind == "ack":
            intent = intents.get((rec["job"], int(rec.get("req", 0)))) or {}
            body = intent.get("body") or {}
            what = rec.get("kind", "?")
            price = _int(body.get("mdfy_uv") or body.get("ord_uv"))
            point = {
                "at": _when(rec),
                "kind": what,
                "job": rec["job"],
                "ord_no": rec.get("ord_no"),
                "price": price if what != "cancel" and price else None,
                "qty": _int(body.get("mdfy_qty") or body.get("cncl_qty") or body.get("ord_qty")),
                "trigger": parse_trigger_job(str(rec["job"])) is not None,
                "partial": bool(rec.get("partial", False)),  # a partial cancel: still working
                # on_late place: how late its job went out (None: on time)
                "late": (state.late.get(str(rec["job"])) or {}).get("late"),
                "late_seconds": _late_seconds(state.late.get(str(rec["job"]))),
            }
            steps.setdefault(rec["order"], []).append(point)
        elif kind == "adopt":
            steps.setdefault(rec["order"], []).append(
                {
                    "at": _when(rec),
                    "kind": "adopt",
                    "job": None,
                    "ord_no": rec.get("ord_no"),
                    "price": None,
                    "qty": 0,
                    "trigger": False,
                    "partial": False,
                    "late": None,
                    "late_seconds": None,
                }
            )
    return steps


def _fills(state: Replay) -> dict[str, list[dict[str, Any]]]:
    """Each newly journaled fill: the quantity, its average price when journaled, when it
    happened (`at`, and `time`: "broker" or "seen", `fill_time`), when the run saw it
    (`seen`) and, for a time seen, the earliest it can have happened (`after`)."""
    out: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, tuple[int, int]] = {}
    for rec in state.records:
        if rec.get("type") != "fill":
            continue
        order = rec["order"]
        filled, value = _int(rec.get("filled")), _int(rec.get("value"))
        before_qty, before_value = seen.get(order, (0, 0))
        if filled <= before_qty:
            earlier = out.get(order, [])
            if rec.get("timed") and earlier and earlier[-1]["filled"] == filled:
                # the feed's time for a fill a read had noted first (checks.py)
                earlier[-1].update(at=str(rec["filled_at"]), time="broker", after=None)
            continue
        qty = filled - before_qty
        priced = "value" in rec and value > before_value
        price = round((value - before_value) / qty) if priced else None
        seen[order] = (filled, value)
        at, how = fill_time(rec)
        out.setdefault(order, []).append(
            {
                "at": at,
                "time": how,
                "seen": _when(rec),
                "after": rec.get("after") if how == "seen" else None,
                "qty": qty,
                "price": price,
                "filled": filled,
            }
        )
    return out


def _money(x: float) -> int:
    return int(x)  # won, truncated (brokers truncate fees and taxes to the won)


def _symbol_pnl(orders: list[dict[str, Any]], rates: Rates) -> dict[str, Any]:
    """Realized P&L for the quantity both bought and sold within the plan, at the average
    buy and sell prices; fees and the sell tax on that matched quantity are deducted."""
    qty: dict[str, int] = {"buy": 0, "sell": 0}
    value: dict[str, int] = {"buy": 0, "sell": 0}
    unpriced = 0
    for o in orders:
        if o["side"] not in qty:
            continue
        priced_qty = sum(f["qty"] for f in o["fills"] if f["price"] is not None)
        unpriced += o["filled"] - priced_qty
        qty[o["side"]] += priced_qty
        value[o["side"]] += sum(f["qty"] * f["price"] for f in o["fills"] if f["price"] is not None)
    matched = min(qty["buy"], qty["sell"])
    out: dict[str, Any] = {
        "bought": qty["buy"],
        "sold": qty["sell"],
        "avg_buy": round(value["buy"] / qty["buy"], 2) if qty["buy"] else None,
        "avg_sell": round(value["sell"] / qty["sell"], 2) if qty["sell"] else None,
        "matched": matched,
        "unpriced_fills": unpriced,
        "gross": 0,
        "costs": 0,
        "net": 0,
    }
    if matched:
        buy_value = value["buy"] * matched / qty["buy"]
        sell_value = value["sell"] * matched / qty["sell"]
        costs = (
            _money(buy_value * rates.fee)
            + _money(sell_value * rates.fee)
            + _money(sell_value * rates.tax)
        )
        gross = round(sell_value - buy_value)
        out.update(gross=gross, costs=costs, net=gross - costs)
    return out


def _windows(day: dt.date) -> list[dict[str, str]]:
    """The day's KRX session windows (name, start, end), for the chart's shading."""
    if not days.is_trading_day(day):
        return []
    return [
        {"name": w.name, "start": w.start.isoformat(), "end": w.end.isoformat()}
        for w in days.venue_windows(day, "KRX").values()
    ]


def _late_seconds(late: dict[str, Any] | None) -> float | None:
    return None if late is None else late_seconds(late)


def figures(
    state: Replay,
    *,
    day: dt.date,
    rates: Rates,
    plan_name: str = "",
    journal: str = "",
    plan_orders: dict[str, dict[str, Any]] | None = None,
    attention: list[str] | None = None,
) -> dict[str, Any]:
    """The day's figures from a replayed journal: plain data, JSON-ready.

    `plan_orders` gives what the journal may not say (an adopted order's symbol, side and
    quantity): order id → {symbol, side, qty}."""
    start = state.starts[0] if state.starts else {}
    last = state.starts[-1] if state.starts else {}
    orders = _order_skeletons(state, plan_orders or {})
    steps = _limit_steps(state)
    fills = _fills(state)
    for order, o in orders.items():
        o["steps"] = steps.get(order, [])
        o["fills"] = fills.get(order, [])
        o["lineage"] = [
            {
                "ord_no": s["ord_no"],
                "kind": s["kind"],
                "at": s["at"],
                "price": s["price"],
                "late": s["late"],  # as said (`7m`); late_seconds: the number
                "late_seconds": s["late_seconds"],
            }
            for s in o["steps"]
        ]
        o["filled"] = o["fills"][-1]["filled"] if o["fills"] else 0
        priced = [f for f in o["fills"] if f["price"] is not None]
        pq = sum(f["qty"] for f in priced)
        value = sum(f["qty"] * f["price"] for f in priced)
        o["avg_price"] = round(value / pq, 2) if pq else None
        o["value"] = value
        o["fee"] = _money(value * rates.fee)
        o["tax"] = _money(value * rates.tax) if o["side"] == "sell" else 0
        o["market_switch"] = any(s["kind"] == "market" for s in o["steps"])
    symbols: dict[str, Any] = {}
    for o in orders.values():
        symbols.setdefault(o["symbol"] or "?", []).append(o)
    triggers = []
    for rec in state.records:
        job = str(rec.get("job") or "")
        if rec.get("type") == "intent" and parse_trigger_job(job) and rec.get("req") == 0:
            # each firing of a repeat trigger is named: `id`, `id#2`, …
            name = job.removeprefix(TRIGGER_JOB)
            triggers.append({"trigger": name, "at": _when(rec), "order": rec.get("order")})
    observed: dict[str, list[dict[str, Any]]] = {}
    capped: dict[str, str] = {}
    for rec in state.records:
        if rec.get("type") == "price" and rec.get("symbol"):
            sym = str(rec["symbol"])
            observed.setdefault(sym, []).append({"at": _when(rec), "price": _int(rec["price"])})
            if rec.get("capped"):
                capped[sym] = _when(rec)
    for sym in observed:
        symbols.setdefault(sym, [])
    stop = next((r for r in reversed(state.records) if r.get("type") == "stop"), None)
    session = days.session(day).regular if days.is_trading_day(day) else None
    jobs = {}
    for job, js in state.jobs.items():  # as `run` names them, a late send said
        label, reason = late_state(js.state, js.reason, state.late.get(job))
        jobs[job] = label + (f" ({reason})" if reason else "")
    needs = list(attention or [])
    for job_id, _req, _rec in state.in_doubt() if attention is None else ():
        needs.append(f"{job_id}: outcome unknown; `planrunner run` reconciles it first")
    if stop is None and state.starts:
        needs.append("the journal has no stop record: the run did not end (or still runs)")
    for sym, at in capped.items():
        needs.append(f"{sym}: the price path stops at {at} (the day's cap of price records)")
    if any(o["filled"] and o["avg_price"] is None for o in orders.values()):
        needs.append("some fills were journaled without a price: their value is not counted")
    return {
        "plan": plan_name,
        "day": day.isoformat(),
        "journal": journal,
        "mode": start.get("mode", ""),
        "env": start.get("env", ""),
        "file": last.get("file", ""),
        "sha256": last.get("sha256", ""),
        "git_commit": last.get("git_commit"),
        "run_start": start.get("run_start", ""),
        "clock": "virtual (simulator)" if start.get("mode") == "sim" else "real (KST)",
        "stopped": None
        if stop is None
        else {"at": stop.get("t"), "exit_code": stop.get("exit_code")},
        "session": None
        if session is None
        else {"start": session.start.isoformat(), "end": session.end.isoformat()},
        "windows": _windows(day),
        "price_observations": observed,
        "price_capped": capped,
        "rates": asdict(rates),
        "orders": list(orders.values()),
        "symbols": {
            sym: {"orders": [o["order"] for o in os_], "pnl": _symbol_pnl(os_, rates)}
            for sym, os_ in symbols.items()
        },
        "triggers": triggers,
        "jobs": jobs,
        "attention": needs,
    }


# ---- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.att{color:#a40000}.note{color:#666}svg{background:#fff;border:1px solid #ddd}
"""
_W, _H, _PAD = 900, 260, 48
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _seconds(at: str, day: dt.date) -> float | None:
    try:
        t = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=SEOUL)
    base = dt.datetime.combine(day, dt.time(0), SEOUL)
    return (t.astimezone(SEOUL) - base).total_seconds()


def _hhmm(sec: float) -> str:
    s = int(sec)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


# Shading per session window (KRX window names as days.WINDOW_NAMES gives them).
_SHADE = {
    "pre-open auction": "#f4f0e6",
    "regular session": "#eef5ff",
    "closing auction": "#dde9fb",
    "post-close after-hours": "#f1eef8",
    "pre-open after-hours": "#f4f0e6",
    "after-hours single price": "#eef3ee",
    "pre-market": "#f6f6f6",
    "after-market": "#f6f6f6",
}
_PRICE_COLOR = "#666"


def _thin(pts: list[tuple[float, int]], columns: int) -> list[tuple[float, int]]:
    """At most about four points per pixel column (first, low, high, last), in time order:
    a busy day draws the same picture from a few thousand points."""
    if len(pts) <= 2 * columns:
        return pts
    t0, t1 = pts[0][0], pts[-1][0]
    span = (t1 - t0) or 1.0
    buckets: dict[int, list[tuple[float, int]]] = {}
    for p in pts:
        buckets.setdefault(int((p[0] - t0) / span * (columns - 1)), []).append(p)
    out: list[tuple[float, int]] = []
    for _col, bucket in sorted(buckets.items()):
        keep = {
            bucket[0],
            min(bucket, key=lambda p: p[1]),
            max(bucket, key=lambda p: p[1]),
            bucket[-1],
        }
        out.extend(sorted(keep))
    return out


def _chart(symbol: str, orders: list[dict[str, Any]], fig: dict[str, Any]) -> str:
    day = dt.date.fromisoformat(fig["day"])
    times: list[float] = []
    prices: list[int] = []
    path: list[tuple[float, int]] = []
    for ob in fig["price_observations"].get(symbol, []):
        if (sec := _seconds(ob["at"], day)) is not None and ob["price"]:
            path.append((sec, ob["price"]))
    path.sort()
    times.extend(p[0] for p in path)
    prices.extend(p[1] for p in path)
    for o in orders:
        for s in o["steps"]:
            if (sec := _seconds(s["at"], day)) is not None:
                times.append(sec)
            if s["price"]:
                prices.append(s["price"])
        for f in o["fills"]:
            if (sec := _seconds(f["at"], day)) is not None:
                times.append(sec)
            if f["price"]:
                prices.append(f["price"])
    sess = fig["session"]
    if sess:
        s0 = _seconds(f"{fig['day']}T{sess['start']}+09:00", day) or 0
        s1 = _seconds(f"{fig['day']}T{sess['end']}+09:00", day) or 0
    if not times:
        times = [s0, s1] if sess else [0, 86400]
    t0, t1 = min(times), max(times)
    if sess:
        t0, t1 = min(t0, s0), max(t1, s1)
    t1 = max(t1, t0 + 60)
    lo, hi = (min(prices), max(prices)) if prices else (0, 1)
    pad = max((hi - lo) * 0.1, hi * 0.002, 1)
    p0, p1 = lo - pad, hi + pad

    def x(sec: float) -> float:
        return round(_PAD + (sec - t0) / (t1 - t0) * (_W - 2 * _PAD), 1)

    def y(price: float) -> float:
        return round(_H - _PAD + (p0 - price) / (p1 - p0) * (_H - 2 * _PAD) + 0, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(symbol)}">'
    ]
    for w in fig.get("windows", []):  # the session windows, clipped to the chart's span
        a = _seconds(f"{fig['day']}T{w['start']}+09:00", day)
        b = _seconds(f"{fig['day']}T{w['end']}+09:00", day)
        if a is None or b is None or b <= t0 or a >= t1:
            continue
        a, b = max(a, t0), min(b, t1)
        shade = _SHADE.get(w["name"], "#f6f6f6")
        parts.append(
            f'<rect class="window" x="{x(a)}" y="{_PAD}" width="{round(x(b) - x(a), 1)}" '
            f'height="{_H - 2 * _PAD}" fill="{shade}"><title>{html.escape(w["name"])} '
            f"{w['start'][:5]}–{w['end'][:5]}</title></rect>"
        )
    for i in range(5):  # axes: five price and five time ticks
        p = p0 + (p1 - p0) * i / 4
        parts.append(
            f'<text x="{_PAD - 4}" y="{y(p) + 4}" font-size="10" text-anchor="end">'
            f"{p:,.0f}</text>"
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y(p)}" y2="{y(p)}" stroke="#e4e4e4"/>'
        )
        t = t0 + (t1 - t0) * i / 4
        parts.append(
            f'<text x="{x(t)}" y="{_H - _PAD + 14}" font-size="10" '
            f'text-anchor="middle">{_hhmm(t)}</text>'
        )
    if path:  # the observed price: a step line (a price holds until the next one seen)
        steps: list[tuple[float, float]] = []
        for n, (sec, price) in enumerate(_thin(path, _W - 2 * _PAD)):
            if n:
                steps.append((x(sec), steps[-1][1]))
            steps.append((x(sec), y(price)))
        coords = " ".join(f"{a},{b}" for a, b in steps)
        parts.append(
            f'<polyline class="price" points="{coords}" fill="none" stroke="{_PRICE_COLOR}" '
            f'stroke-width="1.2"><title>{html.escape(symbol)} price observed by the run '
            f"({len(path)} records)</title></polyline>"
        )
    end = t1
    legend_y = 14
    mine = {o["order"] for o in orders}
    for trig in fig["triggers"]:
        tx = _seconds(trig["at"], day)
        if tx is not None and trig["order"] in mine:
            parts.append(
                _mark(x(tx), "#555", "T", f"trigger {trig['trigger']} fired at {trig['at']}")
            )
    for n, o in enumerate(orders):
        color = _COLORS[n % len(_COLORS)]
        pts: list[tuple[float, float]] = []
        last: float | None = None
        for s in o["steps"]:
            sx = _seconds(s["at"], day)
            if sx is None:
                continue
            if last is not None:
                pts.append((x(sx), y(last)))
            if s["price"]:
                last = s["price"]
                pts.append((x(sx), y(last)))
            elif s["kind"] in ("cancel", "market") and not s["partial"]:
                last = None
                if pts:
                    parts.append(_polyline(pts, color))
                pts = []
            if s["kind"] == "market":
                parts.append(_mark(x(sx), color, "M", f"market switch at {s['at']}"))
        if last is not None and pts:
            pts.append((x(end), y(last)))
        if pts:
            parts.append(_polyline(pts, color))
        for f in o["fills"]:
            fx = _seconds(f["at"], day)
            if fx is None or f["price"] is None:
                continue
            r = min(3 + f["qty"] ** 0.5 * 2, 14)
            fy = y(f["price"])
            title = f"{f['qty']} filled at {f['price']:,} {_fill_when(f)}"
            since = _seconds(f["after"], day) if f.get("after") else None
            if since is not None and since < fx:  # the span it can have filled in
                parts.append(
                    f'<line x1="{x(since)}" x2="{x(fx)}" y1="{fy}" y2="{fy}" stroke="{color}" '
                    f'stroke-width="3" stroke-opacity=".35"><title>{html.escape(title)}'
                    "</title></line>"
                )
            parts.append(
                f'<circle cx="{x(fx)}" cy="{fy}" r="{r:.1f}" fill="{color}" '
                f'fill-opacity=".6"><title>{html.escape(title)}</title></circle>'
            )
        parts.append(
            f'<text x="{_W - _PAD + 4 - 40}" y="{legend_y}" font-size="11" fill="{color}" '
            f'text-anchor="end">{html.escape(o["order"])} {html.escape(o["side"])}</text>'
        )
        legend_y += 13
    if path:
        parts.append(
            f'<text x="{_W - _PAD + 4 - 40}" y="{legend_y}" font-size="11" '
            f'fill="{_PRICE_COLOR}" text-anchor="end">price</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _mark(at: float, color: str, letter: str, title: str) -> str:
    """A dashed vertical line with a letter on top: T for a trigger, M for a market switch
    (M one line higher, so that both stay readable when they fall close together)."""
    top = _PAD - 4 - (12 if letter == "M" else 0)
    return (
        f'<g><title>{html.escape(title)}</title><line x1="{at}" x2="{at}" y1="{top + 2}" '
        f'y2="{_H - _PAD}" stroke="{color}" stroke-dasharray="4 3"/><text x="{at}" '
        f'y="{top}" font-size="11" text-anchor="middle" fill="{color}">{letter}</text></g>'
    )


def _polyline(pts: list[tuple[float, float]], color: str) -> str:
    coords = " ".join(f"{a},{b}" for a, b in pts)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'


def _num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v))


def _table(head: list[str], rows: list[list[Any]], left: int = 1) -> str:
    th = "".join(
        f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{_num(c)}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _kind_text(link: dict[str, Any]) -> str:
    """`place`, or `place (sent 7m late: on_late place)` for a job sent late."""
    late = link.get("late")
    return f"{link['kind']} ({sent_late(late)})" if late else str(link["kind"])


def _clock(at: str) -> str:
    try:
        return dt.datetime.fromisoformat(at).astimezone(SEOUL).strftime("%H:%M:%S")
    except ValueError:
        return at


def _lineage_rows(o: dict[str, Any]) -> list[list[Any]]:
    """An order's numbers and fills in the order they happened (a fill at the broker's
    time; a fill whose time is not told, when the run saw it, marked so)."""
    rows: list[tuple[str, int, list[Any]]] = [
        (li["at"], 0, [_clock(li["at"]), _kind_text(li), li["ord_no"], li["price"]])
        for li in o["lineage"]
    ]
    for f in o["fills"]:
        when = _clock(f["at"])
        if f["time"] == "seen":
            when += (
                f" (time seen; filled after {_clock(f['after'])})"
                if f.get("after")
                else (" (time seen)")
            )
        rows.append((f["at"], 1, [when, "fill", f"{f['qty']} (total {f['filled']})", f["price"]]))
    return [r for _at, _k, r in sorted(rows, key=lambda r: (_seconds_any(r[0]), r[1]))]


def _seconds_any(at: str) -> float:
    try:
        t = dt.datetime.fromisoformat(at)
    except ValueError:
        return 0.0
    return (t if t.tzinfo else t.replace(tzinfo=SEOUL)).timestamp()


def _fill_when(f: dict[str, Any]) -> str:
    """`at 12:07:03`, or `time seen 15:15:00 (filled after 10:00:02)` when the broker
    did not say when it filled."""
    if f.get("time") != "seen":
        return f"at {_clock(f['at'])}"
    after = f" (filled after {_clock(f['after'])})" if f.get("after") else ""
    return f"time seen {_clock(f['at'])}{after}"


def render_html(fig: dict[str, Any]) -> str:
    """The figures as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    e = html.escape
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(fig['plan'])} {e(fig['day'])}: the day's report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(fig['plan'])} on {e(fig['day'])}</h1>",
        _table(
            ["", ""],
            [
                ["mode", f"{fig['mode']} ({fig['env']})"],
                ["clock", fig["clock"]],
                ["run start", fig["run_start"]],
                ["plan file", fig["file"]],
                ["sha256", fig["sha256"]],
                ["git commit", fig["git_commit"] or "none recorded (not a live run)"],
                ["journal", fig["journal"]],
                [
                    "ended",
                    "no stop record"
                    if not fig["stopped"]
                    else f"exit {fig['stopped']['exit_code']}",
                ],
            ],
            left=2,
        ),
        "<h2>Needs attention</h2>",
    ]
    if fig["attention"]:
        out.append(
            "<ul>" + "".join(f'<li class="att">{e(a)}</li>' for a in fig["attention"]) + "</ul>"
        )
    else:
        out.append("<p>Nothing.</p>")
    by_id = {o["order"]: o for o in fig["orders"]}
    for sym, s in fig["symbols"].items():
        orders = [by_id[o] for o in s["orders"]]
        out.append(f"<h2>{e(sym)}</h2>")
        out.append(_chart(sym, orders, fig))
        seen = len(fig["price_observations"].get(sym, []))
        path = (
            f"grey step line: the price as the run observed it ({seen} records, kept on change)"
            if seen
            else "no market price was observed for this symbol (the run reads prices for "
            "triggers and price checks only), so no price path is drawn"
        )
        out.append(
            f"<p class='note'>{path}; coloured lines: each order's limit price through its "
            "modifies; dots: fills, area by quantity, at the broker's time of the fill "
            "(a fill whose time the broker does not tell, a resting order's when the run "
            "polls without the live feed, is drawn when the run saw it, a pale bar back to the "
            "earliest it can have filled, and its row says 'time seen'); T: a trigger "
            "fired; M: the switch to a market order; bands: the session windows (pre-open, "
            "regular session in blue, closing auction darker, after-hours), their names on "
            "hover.</p>"
        )
        out.append(
            _table(
                ["order", "side", "filled/ordered", "avg price", "value", "fee", "tax"],
                [
                    [
                        o["order"],
                        o["side"],
                        f"{o['filled']}/{o['qty']}",
                        o["avg_price"],
                        o["value"],
                        o["fee"],
                        o["tax"],
                    ]
                    for o in orders
                ],
                left=3,
            )
        )
        for o in orders:
            out.append(f"<p><b>{e(o['order'])}</b> lineage</p>")
            out.append(
                _table(
                    ["time", "kind", "order no", "price"],
                    _lineage_rows(o),
                    left=3,
                )
            )
        p = s["pnl"]
        out.append(
            _table(
                [
                    "bought",
                    "sold",
                    "avg buy",
                    "avg sell",
                    "matched",
                    "gross P&L",
                    "fees+tax",
                    "net P&L",
                ],
                [
                    [
                        p["bought"],
                        p["sold"],
                        p["avg_buy"],
                        p["avg_sell"],
                        p["matched"],
                        p["gross"],
                        p["costs"],
                        p["net"],
                    ]
                ],
                left=0,
            )
        )
    if fig["triggers"]:
        out.append("<h2>Triggers fired</h2>")
        out.append(
            _table(
                ["trigger", "time", "order"],
                [[t["trigger"], _clock(t["at"]), t["order"]] for t in fig["triggers"]],
                left=3,
            )
        )
    out.append("<h2>Jobs</h2>")
    out.append(_table(["job", "state"], [[j, st] for j, st in fig["jobs"].items()], left=2))
    r = fig["rates"]
    out.append("<h2>Cost rates (estimates)</h2>")
    out.append(
        _table(
            ["rate", "value", "charged on", "source"],
            [
                ["fee", f"{r['fee'] * 100:.4g} %", "buys and sells", r.get("fee_source", "")],
                ["tax", f"{r['tax'] * 100:.4g} %", "sells", r.get("tax_source", "")],
            ],
            left=4,
        )
    )
    out.append(
        f"<p class='note'>Rates in force: {e(r['source'])}. Amounts are truncated to the "
        "won. Realized P&amp;L counts only quantities bought and sold within this plan, at "
        "their average prices.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out)


def plan_report(
    path: Path,
    *,
    state_dir: Path,
    day: dt.date | None,
    env: str | None = None,
    params: dict[str, str] | None = None,
    rates: Rates | None = None,
    journal: Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The figures of a plan's day, read from its journal (the newest one, or `journal`).
    The day is found as `status` finds it (`journal_day`); `rates` default to the table's
    for that day with the plan's own `rates:` over them."""
    from planrunner.app.status import find_journal, journal_day
    from planrunner.app.text import status_data
    from planrunner.engine.journal import replay
    from planrunner.plan.compile import compile_plan
    from planrunner.plan.rules import load_plan

    plan = load_plan(path, params)
    the_day = journal_day(plan, state_dir=state_dir, day=day, env=env, now=now)
    jpath = journal or find_journal(state_dir, plan.journal_name, the_day, env)
    state = replay(jpath)
    compiled = compile_plan(plan, day=the_day, run_start=state.run_start, closed_ok=True)
    status = status_data(compiled, state)
    specs = {
        o.id: {"symbol": o.symbol, "side": o.side, "qty": o.qty} for o in compiled.orders.values()
    }
    return figures(
        state,
        day=the_day,
        rates=rates or load_rates(the_day, plan=plan.rates),
        plan_name=plan.name,
        journal=str(jpath),
        plan_orders=specs,
        attention=list(status.get("attention", [])),
    )
