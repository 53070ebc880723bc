"""Holdings and orderable cash of the simulated account, when a scenario gives them.

    account:
      cash: 10000000            # orderable cash in won at the start
      holdings: {"005930": 10}  # shares held at the start

Without `account:` nothing is modelled (every order is affordable, every sell covered).
With it, a sell over the sellable quantity (held, plus bought and filled today, minus
sold and minus what open sell orders already reserve) and a buy over the orderable cash
(cash, minus what filled buys cost, plus what filled sells brought, minus what open buy
orders reserve at their price, or the upper limit for an unpriced buy) are refused.
Worked out from the broker's orders at each request: no state of its own to drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planrunner.sim import protocol
from planrunner.sim.orders import Order

INSUFFICIENT_QTY = 2109
INSUFFICIENT_CASH = 2110


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    cash: int
    holdings: dict[str, int] = field(default_factory=dict)

    def sellable(self, symbol: str, orders: list[Order]) -> int:
        held = self.holdings.get(symbol, 0)
        for o in orders:
            if o.symbol != symbol or o.kind == "cancel":
                continue
            if o.side == "buy":
                held += o.filled
            else:
                held -= o.filled + o.remaining
        return held

    def orderable(self, orders: list[Order], upper: dict[str, int]) -> int:
        cash = self.cash
        for o in orders:
            if o.kind == "cancel":
                continue
            value = sum(f.qty * f.price for f in o.fills)
            if o.side == "buy":
                cash -= value + o.remaining * (o.price or upper.get(o.symbol, 0))
            else:
                cash += value
        return cash

    def check(
        self, symbol: str, side: str, qty: int, price: int, orders: list[Order], upper: int
    ) -> None:
        """Refuse a new order the account cannot cover, with a Kiwoom-style answer."""
        if side == "sell":
            can = self.sellable(symbol, orders)
            if qty > can:
                raise protocol.rejected(
                    INSUFFICIENT_QTY, f"매도가능수량({max(can, 0)})을 초과하였습니다"
                )
            return
        uppers = {o.symbol: upper for o in orders if o.symbol == symbol}
        can = self.orderable(orders, uppers)
        if qty * price > can:
            raise protocol.rejected(
                INSUFFICIENT_CASH, f"주문가능금액({max(can, 0)}원)이 부족합니다"
            )
