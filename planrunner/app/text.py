"""Text for people: event lines, the end-of-run summary, and `status` (cli prints them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from planrunner.clock import SEOUL
from planrunner.engine.attention import items, late_seconds, late_state, late_text
from planrunner.engine.events import Event, OrderSummary, RunResult
from planrunner.engine.journal import Replay, fill_time
from planrunner.engine.summary import link_data, link_text_of
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


def summary_lines(result: RunResult) -> list[str]:
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
            "remaining": r.get("remaining"),
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
        "attention": attention,
        "attention_items": [i.as_dict() for i in found],
        "runs": len(state.starts),
    }


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
