"""Text for people: event lines, the end-of-run summary, and `status` (cli prints them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from planrunner.clock import SEOUL
from planrunner.engine.attention import items, late_seconds, late_state, late_text
from planrunner.engine.events import Event, OrderSummary, RunResult
from planrunner.engine.journal import Replay, fill_time
from planrunner.engine.summary import link_data, link_text_of, state_name
from planrunner.errors import ExitCode
from planrunner.model import CompiledPlan, action_name, trigger_job


def event_line(e: Event) -> str:
    at = e.at.astimezone(SEOUL)
    stamp = f"{at:%H:%M:%S}.{at.microsecond // 1000:03d}"
    who = e.job or e.order or ""
    return f"{stamp}  {e.kind:<10} {who:<16} {e.message}".rstrip()


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def order_rows(orders: tuple[OrderSummary, ...]) -> list[str]:
    rows = [["order", "symbol", "side", "filled/ordered", "avg price", "open", "state", "lineage"]]
    for o in orders:
        rows.append(
            [
                o.order,
                o.symbol,
                o.side,
                f"{o.filled}/{o.ordered}",
                f"{o.avg_fill_price:,}" if o.avg_fill_price else "-",
                str(o.remaining),
                o.state,
                " → ".join(o.lineage) or "-",
            ]
        )
    return _table(rows)


def summary_lines(result: RunResult, *, exit_line: bool = True) -> list[str]:
    lines = ["", "summary"]
    lines += ["  " + r for r in order_rows(result.orders)]
    counts: dict[str, int] = {}
    for state in result.jobs.values():
        key = state.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    if counts:
        lines.append("  jobs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    late = [
        f"{job} ({state.split('(sent ', 1)[1].split(' late')[0]})"
        for job, state in result.jobs.items()
        if state.endswith("late: on_late place)")
    ]
    if late:
        lines.append("  sent late (on_late: place): " + ", ".join(late))
    for tid, r in result.stats.get("triggers", {}).items():
        extra = ""
        if "reaction_ms" in r:
            crossed = r["crossing"][11:23]
            sent = r["first_request"][11:23]
            extra = (
                f"; price crossed at {crossed}, first request ({r['api_id']}) at {sent}: "
                f"{r['reaction_ms']:.1f} ms real"
            )
            if r["reaction_virtual_ms"] != r["reaction_ms"]:
                extra += f" ({r['reaction_virtual_ms'] / 1000:.1f} s on the rehearsal clock)"
        lines.append(f"  trigger {tid}: {r.get('state', 'fired')}{extra}")
    for job, state in result.stats.get("oco", {}).items():
        lines.append(f"  {job}: {state}")
    if result.attention:
        lines.append("needs attention")
        lines += [f"  - {a}" for a in result.attention]
    if exit_line:  # several plans: the board says each plan's code, once
        lines.append(f"exit {result.exit_code}")
    return lines


def summary_json(result: RunResult) -> dict[str, Any]:
    return {
        "summary": {
            "exit_code": result.exit_code,
            "orders": [o.as_dict() for o in result.orders],
            "jobs": result.jobs,
            "attention": list(result.attention),
            "triggers": result.stats.get("triggers", {}),
            "oco": result.stats.get("oco", {}),
        }
    }


def status_data(plan: CompiledPlan, state: Replay) -> dict[str, Any]:
    jobs = []
    for job in plan.jobs:
        js = state.jobs.get(job.id)
        late = state.late.get(job.id)  # on_late place sent it late: said as `run` says it
        st, reason = late_state(
            "pending" if js is None else js.label, "" if js is None else js.reason, late
        )
        jobs.append(
            {
                "job": job.id,
                "at": job.at.astimezone(SEOUL).isoformat(),
                "order": job.order,
                "action": action_name(job.action),
                "state": st,
                "reason": reason,
                "sent_late": None if late is None else late_seconds(late),  # seconds
            }
        )
    for t in plan.triggers:
        # Each firing of a repeat trigger is its own job: trigger:<id>, trigger:<id>#2, …
        n, tjob = 1, trigger_job(t.id)
        while True:
            js = state.jobs.get(tjob)
            jobs.append(
                {
                    "job": tjob,
                    "at": None,
                    "order": None,
                    "action": action_name(t.action),
                    "state": "armed" if js is None else js.label,
                    "reason": "" if js is None else js.reason,
                }
            )
            n += 1
            tjob = trigger_job(t.id, n)
            if tjob not in state.jobs:
                break
    for g in plan.oco:
        # Each resize of a leg is its own job: oco:<group>:<leg>@<the other leg's fills>.
        for job_id, js in state.jobs.items():
            if job_id.startswith(f"oco:{g.id}:"):
                leg = job_id.split(":", 2)[2].rsplit("@", 1)[0]
                jobs.append(
                    {
                        "job": job_id,
                        "at": None,
                        "order": leg,
                        "action": "oco resize",
                        "state": js.label,
                        "reason": js.reason,
                    }
                )
    for t in plan.triggers:
        trail = state.trails.get(t.id)
        if trail is not None:  # where a trailing stop's level stands
            for row in jobs:
                if row["job"] == trigger_job(t.id) and row["state"] == "armed":
                    row["reason"] = f"level {trail['level']:,} (best {trail['best']:,})"
                    row["level"], row["best"] = trail["level"], trail["best"]
    found = items(state)  # the same rule and list as the run's summary (attention.py)
    attention = [i.text for i in found]
    planned = {job.id: job.at for job in plan.jobs}
    lineage = {
        order: [link_data(link, planned) for link in links]
        for order, links in state.lineage.items()
    }
    fills = {
        o: {
            "filled": r.get("filled"),
            # a cancelled order has nothing open, whatever its last fill left open then
            "remaining": 0 if cancelled(state, o) else r.get("remaining"),
            "avg_price": (
                int(r["value"]) // int(r["filled"]) if r.get("value") and r.get("filled") else None
            ),
            "last_price": r.get("price"),  # the last fill's price, when the feed told it
            # when the last fill happened: the broker's time, else when the run saw it
            "at": fill_time(r)[0],
            "time": fill_time(r)[1],
        }
        for o, r in state.fills.items()
    }
    return {
        "jobs": jobs,
        "lineage": lineage,
        "fills": fills,
        "orders": order_figures(plan, state),
        "attention": attention,
        "attention_items": [i.as_dict() for i in found],
        "runs": len(state.starts),
    }


def cancelled(state: Replay, order: str) -> bool:
    """The journal says the order's rest was cancelled: its newest working number is a
    (whole) cancel the broker acknowledged."""
    working = [x for x in state.lineage.get(order, []) if x.working]
    return bool(working) and working[-1].kind == "cancel"


def order_figures(plan: CompiledPlan, state: Replay) -> list[dict[str, Any]]:
    """Each order as the journal last knew it, in the run summary's terms (`orders` of
    `summary_json`): ordered, filled, remaining (0 once cancelled), average fill price,
    state. An order the journal never placed is `not placed`."""
    out = []
    for order, spec in plan.orders.items():
        links = state.lineage.get(order, [])
        fill = state.fills.get(order) or {}
        filled = int(fill.get("filled") or 0)
        ordered = spec.qty or next((x.qty for x in links if x.qty), None) or filled
        if not links:
            remaining, name = 0, "not placed"
        else:
            remaining = 0 if cancelled(state, order) else int(fill.get("remaining", ordered))
            name = state_name(filled, remaining, ordered)
        value = int(fill.get("value") or 0)
        out.append(
            {
                "order": order,
                "symbol": spec.symbol,
                "side": spec.side,
                "ordered": ordered,
                "filled": filled,
                "remaining": remaining,
                "state": name,
                "avg_fill_price": value // filled if value and filled else None,
            }
        )
    return out


def _hms(at: str) -> str:
    try:
        return dt.datetime.fromisoformat(at).astimezone(SEOUL).strftime("%H:%M:%S")
    except ValueError:
        return at


def status_lines(data: dict[str, Any]) -> list[str]:
    rows = [["job", "at", "order", "action", "state"]]
    for j in data["jobs"]:
        state = j["state"] + (f" ({j['reason']})" if j["reason"] else "")
        at = _hms(j["at"]) if j["at"] else ""
        rows.append([j["job"], at, j["order"] or "", j["action"], state])
    lines = _table(rows)
    late = [
        f"{j['job']} ({late_text(dt.timedelta(seconds=j['sent_late']))})"
        for j in data["jobs"]
        if j.get("sent_late") is not None
    ]
    if late:
        lines.append("sent late (on_late: place): " + ", ".join(late))
    lines.append("")
    for order, links in data["lineage"].items():
        lines.append(f"{order}: {' → '.join(link_text_of(x) for x in links)}")
    for order, f in data.get("fills", {}).items():
        avg = f" at an average {f['avg_price']:,}" if f.get("avg_price") else ""
        last = ""
        if f.get("at"):
            seen = " (time seen)" if f.get("time") == "seen" else ""
            last = f", last fill {_hms(f['at'])}{seen}"
        lines.append(f"{order}: {f['filled']} filled{avg}, {f['remaining']} open{last}")
    if data["attention"]:
        lines.append("needs attention")
        lines += [f"  - {a}" for a in data["attention"]]
    return lines


# ---- several plans: one board ---------------------------------------------------------

_EXIT_WORDS = {
    0: "every plan did its work",
    1: "a plan could not run (a plan problem)",
    2: "something needs attention",
    3: "an internal error (a crash log was written)",
    130: "interrupted",
}


def board_row(
    plan: str,
    orders: list[dict[str, Any]],
    *,
    attention: int,
    exit_code: int,
    error: str | None = None,
) -> dict[str, Any]:
    """One plan's row of the combined board, from its orders in the summary's terms
    (`OrderSummary.as_dict`, or `order_figures` for `status`): how many orders, shares
    filled of those ordered, the average fill price per symbol and side, what is left
    open, its state, and its exit code. `error`: the plan ended before its summary (a
    refusal, a failure): what it has at the broker is not known here (None, shown `-`;
    its journal, if any, says it: `planrunner status`), never 0."""
    prices: dict[tuple[str, str], list[int]] = {}
    for o in orders:
        if o["filled"] and o.get("avg_fill_price"):
            got = prices.setdefault((o["symbol"], o["side"]), [0, 0])
            got[0] += o["filled"]
            got[1] += o["filled"] * o["avg_fill_price"]
    remaining = sum(o["remaining"] for o in orders)
    if error is not None:
        state = f"error: {error}"
    elif attention:
        state = f"{attention} need(s) attention"
    elif exit_code == ExitCode.INTERRUPTED:
        state = "interrupted"
    elif remaining:
        state = "orders open"
    else:
        state = "done"
    return {
        "plan": plan,
        "orders": len(orders),
        "ordered": sum(o["ordered"] for o in orders),
        "filled": sum(o["filled"] for o in orders),
        "remaining": remaining,
        "avg_fill_price": [
            {"symbol": s, "side": side, "filled": q, "avg_fill_price": v // q}
            for (s, side), (q, v) in prices.items()
        ],
        "state": state,
        "attention": attention,
        "exit_code": exit_code,
    } | (dict.fromkeys(("orders", "ordered", "filled", "remaining")) if error else {})


def exit_reason(code: int, rows: list[dict[str, Any]]) -> str:
    """Why several plans end with `code`: the worst of theirs, and whose it is."""
    words = _EXIT_WORDS.get(code, f"exit {code}")
    if code == 0:
        return words
    whose = [r["plan"] for r in rows if r["exit_code"] == code or (r["attention"] and code == 2)]
    return f"{words}: {', '.join(dict.fromkeys(whose))} (the worst code of the plans)"


def _avg_text(row: dict[str, Any]) -> str:
    groups = row["avg_fill_price"]
    if not groups:
        return "-"
    symbols = {g["symbol"] for g in groups}
    if len(groups) == 1:
        return f"{groups[0]['avg_fill_price']:,}"
    return ", ".join(
        (f"{g['symbol']} " if len(symbols) > 1 else "") + f"{g['side']} {g['avg_fill_price']:,}"
        for g in groups
    )


def board_lines(rows: list[dict[str, Any]], code: int) -> list[str]:
    """The combined board: a row per plan; `code`: the process's exit code, explained."""
    table = [["plan", "orders", "filled/ordered", "avg price", "open", "state", "exit"]]
    for r in rows:
        known = r["orders"] is not None  # None: the plan ended before its summary
        cells = [
            r["plan"],
            str(r["orders"]) if known else "-",
            f"{r['filled']}/{r['ordered']}" if known else "-",
            _avg_text(r),
            str(r["remaining"]) if known else "-",
            r["state"],
            str(r["exit_code"]),
        ]
        table.append(cells)
    lines = ["", f"{len(rows)} plans"] + ["  " + x for x in _table(table)]
    lines.append(f"exit {code}: {exit_reason(code, rows)}")
    return lines
