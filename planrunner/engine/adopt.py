"""An adopted order is the broker's, not the plan's: read it before anything is scheduled.

The plan names an order number it did not place. Before the first request, that number
is looked up in the broker's open orders across every symbol (ka10075 without a symbol
filter) and the plan's view of it must agree with the broker's: symbol, side, exchange,
open quantity, and the price when the plan states one. A number that is not open, or
any difference, refuses the run before it sends anything: acting on the wrong order (a
cancel reported for an order that stays open, a buy's step moving a sell) is worse than
not acting. A resumed run has already adopted its orders and is not asked again.

A number that another journal of the state directory owns (another plan's order, or one
it adopted) is refused while that journal's runner is running: two runners managing one
order would each act on it and report it their own way. Once that runner has ended, the
order may be taken over (a hand-over).
"""

from __future__ import annotations

from planrunner.engine.journal import Journal, holder_pid
from planrunner.engine.reconcile import foreign_numbers
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.types import OpenOrder, ord_key
from planrunner.model import PRICED_TYPES, CompiledPlan, OrderSpec

_VENUES = {"1": "KRX", "2": "NXT"}  # stex_tp may come as a code


def _venue(text: str) -> str:
    text = text.strip().upper()
    return _VENUES.get(text, text)


def plan_view(spec: OrderSpec) -> str:
    qty = f"{spec.qty}" if spec.qty is not None else "? (any)"
    price = f" at {spec.price:,}" if spec.price is not None else ""
    return f"{spec.symbol} {spec.side} {qty} open{price} on {spec.exchange}"


def broker_view(row: OpenOrder) -> str:
    price = f" at {row.price:,}" if row.price else ""
    return (
        f"{row.symbol} {row.side or '(side unknown)'} {row.open_qty} open{price} "
        f"on {_venue(row.exchange) or '(venue unknown)'}"
    )


def differences(spec: OrderSpec, row: OpenOrder) -> list[str]:
    out = []
    if row.symbol.strip().removeprefix("A") != spec.symbol:
        out.append("symbol")
    if row.side != spec.side:
        out.append("side")
    venue = _venue(row.exchange)
    # A SOR order rests on whichever venue the broker routed it to.
    if venue and spec.exchange != "SOR" and venue != spec.exchange:
        out.append("exchange")
    if spec.qty is not None and row.open_qty != spec.qty:
        out.append("open qty")
    if spec.price is not None and spec.order_type in PRICED_TYPES and row.price != spec.price:
        out.append("price")
    return out


def check_adoptions(plan: CompiledPlan, client: KiwoomClient, journal: Journal) -> dict[str, str]:
    """Per adopted order that does not match the broker, why (empty: all match)."""
    todo = [s for s in plan.orders.values() if s.adopt and not journal.state.lineage.get(s.id)]
    if not todo:
        return {}
    rows = {ord_key(o.ord_no): o for o in client.open_orders()}
    owners = foreign_numbers(journal)  # without padding, as ord_key writes them
    problems: dict[str, str] = {}
    for spec in todo:
        assert spec.adopt is not None
        owner = owners.get(ord_key(spec.adopt))
        running = holder_pid(owner) if owner is not None else None
        if owner is not None and running is not None:
            who = f"pid {running}" if running > 0 else "another runner"
            problems[spec.id] = (
                f"{spec.id}: adopt {spec.adopt} refused: the runner of {owner} ({who}) "
                "manages that order now; one order is managed by one runner (stop it, or "
                "let it finish, then adopt it)"
            )
            continue
        row = rows.get(ord_key(spec.adopt))
        if row is None:
            problems[spec.id] = (
                f"{spec.id}: adopt {spec.adopt} refused: no open order {spec.adopt} at the "
                f"broker (plan: {plan_view(spec)})"
            )
            continue
        diff = differences(spec, row)
        if diff:
            problems[spec.id] = (
                f"{spec.id}: adopt {spec.adopt} refused, {' and '.join(diff)} differ: "
                f"plan {plan_view(spec)}; broker {broker_view(row)}"
            )
    return problems
