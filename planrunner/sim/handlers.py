"""One function per business api-id: validate the body strictly, act on the broker,
shape the answer in Kiwoom's field names. The envelope (api-id, token, faults, log)
is app.py's job.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from planrunner.clock import SEOUL
from planrunner.sim import protocol
from planrunner.sim.behaviour import canonical
from planrunner.sim.broker import Broker, NewOrder
from planrunner.sim.orders import Order
from planrunner.sim.protocol import SimError, malformed, missing

_ORD_NO = re.compile(r"^\d{7}$")
_ORD_NO_ANY = re.compile(r"^\d{1,10}$")  # behaviour padding=none: any padding is read
_STK_CD = re.compile(r"^[0-9A-Z]{6}$")
_SIDES = {"kt10000": "buy", "kt10001": "sell"}
_STEX = {"0": None, "1": "KRX", "2": "NXT"}
_STEX_CODE = {"KRX": "1", "NXT": "2"}  # an SOR order: "0" (unverified)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    api_id: str
    body: dict[str, str]
    now: dt.datetime
    env: str
    cont_yn: str = "N"
    next_key: str = ""
    page_size: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    body: dict[str, Any]
    cont_yn: str = "N"
    next_key: str = ""
    ord_no: str | None = None  # the number this call created, if any
    extra: dict[str, Any] = field(default_factory=dict)


def text(body: dict[str, str], name: str, *, required: bool = True) -> str:
    value = body.get(name, "").strip()
    if required and not value:
        raise missing(name)
    return value


def number(body: dict[str, str], name: str, *, allow_zero: bool = False) -> int:
    value = text(body, name)
    if not value.isdigit() or (int(value) == 0 and not allow_zero):
        raise malformed(name)
    return int(value)


def choice(body: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = text(body, name)
    if value not in allowed:
        raise malformed(name)
    return value


def _symbol(body: dict[str, str], name: str = "stk_cd") -> str:
    value = text(body, name)
    if not _STK_CD.match(value):
        raise malformed(name)
    return value


def _listed(broker: Broker, symbol: str) -> str:
    """Kiwoom refuses a code it does not list (1902) before anything else."""
    if not broker.market.scenario.listed(symbol):
        raise protocol.rejected(1902, f"종목정보가 없습니다({symbol})")
    return symbol


def _exchange(call: Call) -> str:
    value = choice(call.body, "dmst_stex_tp", ("KRX", "NXT", "SOR"))
    if call.env == "mock" and value != "KRX":
        raise protocol.rejected(1901, "모의투자에서는 KRX만 지원합니다")
    return value


def _side_word(order: Order) -> str:
    return "매수" if order.side == "buy" else "매도"


def place(broker: Broker, call: Call) -> Answer:
    exchange = _exchange(call)
    symbol = _listed(broker, _symbol(call.body))
    qty = number(call.body, "ord_qty")
    trde_tp = choice(call.body, "trde_tp", tuple(protocol.TRDE_TP))
    order_type = protocol.TRDE_TP[trde_tp][0]
    price = number(call.body, "ord_uv") if order_type in protocol.PRICED else None
    stop = number(call.body, "cond_uv") if order_type == "stop_limit" else None
    new = NewOrder(
        symbol=symbol,
        side="buy" if _SIDES[call.api_id] == "buy" else "sell",
        trde_tp=trde_tp,
        exchange=exchange,
        qty=qty,
        price=price,
        stop_price=stop,
    )
    account = broker.market.scenario.account
    if account is not None:
        broker.advance(call.now)
        q = broker.market.quote(symbol)
        cost = price if price is not None else q.upper
        account.check(symbol, new.side, qty, cost, list(broker.orders.values()), q.upper)
    order = broker.place(new, call.now)
    return Answer(
        body={"ord_no": broker.behaviour.number(order.ord_no), "dmst_stex_tp": exchange},
        ord_no=order.ord_no,
        extra={"return_msg": f"{_side_word(order)}주문이 완료되었습니다"},
    )


def _number_ok(broker: Broker, value: str) -> bool:
    pattern = _ORD_NO if broker.behaviour.padding == "7" else _ORD_NO_ANY
    return bool(pattern.match(value))


def _orig(broker: Broker, body: dict[str, str]) -> str:
    value = text(body, "orig_ord_no")
    if not _number_ok(broker, value):
        raise malformed("orig_ord_no")
    return canonical(value)


def modify(broker: Broker, call: Call) -> Answer:
    exchange = _exchange(call)
    orig = _orig(broker, call.body)
    symbol = _symbol(call.body)
    qty = number(call.body, "mdfy_qty", allow_zero=True)
    price = number(call.body, "mdfy_uv", allow_zero=True)
    stop = (
        number(call.body, "mdfy_cond_uv")
        if text(call.body, "mdfy_cond_uv", required=False)
        else None
    )
    order = broker.modify(orig, symbol, qty, price, stop, call.now)
    return Answer(
        body={
            "ord_no": broker.behaviour.number(order.ord_no),
            "base_orig_ord_no": _base(broker, order),
            "mdfy_qty": _acted(broker, qty, order.qty),
            "dmst_stex_tp": exchange,
        },
        ord_no=order.ord_no,
        extra={"return_msg": f"{_side_word(order)}정정 주문입력이 완료되었습니다"},
    )


def _base(broker: Broker, order: Order) -> str:
    """base_orig_ord_no: the lineage's root, or (behaviour) the number acted on."""
    if broker.behaviour.base_orig_ord_no == "target" and order.orig_ord_no:
        return broker.behaviour.number(order.orig_ord_no)
    return broker.behaviour.number(order.base_ord_no)


def _acted(broker: Broker, asked: int, qty: int) -> str:
    """mdfy_qty / cncl_qty: the quantity taken; for an all ("0") request (behaviour)
    possibly twelve zeros."""
    if asked == 0 and broker.behaviour.all_qty == "zeros":
        return "000000000000"
    return f"{qty:012d}"


def cancel(broker: Broker, call: Call) -> Answer:
    exchange = _exchange(call)
    orig = _orig(broker, call.body)
    symbol = _symbol(call.body)
    qty = number(call.body, "cncl_qty", allow_zero=True)
    record = broker.cancel(orig, symbol, qty, call.now)
    return Answer(
        body={
            "ord_no": broker.behaviour.number(record.ord_no),
            "base_orig_ord_no": _base(broker, record),
            "cncl_qty": _acted(broker, qty, record.acted),
            "dmst_stex_tp": exchange,
        },
        ord_no=record.ord_no,
        extra={"return_msg": f"{_side_word(record)}취소 주문입력이 완료되었습니다"},
    )


def _page(
    call: Call, orders: list[Order], key: str, item: Callable[[Order], dict[str, str]]
) -> Answer:
    newest_first = sorted(orders, key=lambda o: o.ord_no, reverse=True)
    if call.cont_yn == "Y" and call.next_key:
        newest_first = [o for o in newest_first if o.ord_no < call.next_key]
    page = newest_first[: call.page_size]
    more = len(newest_first) > call.page_size
    return Answer(
        body={key: [item(o) for o in page]},
        cont_yn="Y" if more else "N",
        next_key=page[-1].ord_no if more else "",
    )


def _filter(orders: list[Order], symbol: str | None, side: str, stex: str) -> list[Order]:
    want_side = {"0": None, "1": "sell", "2": "buy"}[side]
    want_stex = _STEX[stex]
    return [
        o
        for o in orders
        if (symbol is None or o.symbol == symbol)
        and (want_side is None or o.side == want_side)
        and (want_stex is None or o.exchange == want_stex)
    ]


_KIND_WORD = {"order": "", "modify": "정정", "cancel": "취소"}


def _common(broker: Broker, o: Order) -> dict[str, str]:
    io = ("+" if o.side == "buy" else "-") + _side_word(o) + _KIND_WORD[o.kind]
    number = broker.behaviour.number
    orig = o.orig_ord_no
    if orig and broker.behaviour.orig_ord_no == "root":
        orig = o.base_ord_no
    return {
        "ord_no": number(o.ord_no),
        "orig_ord_no": number(orig) if orig else "0000000",
        "stk_cd": o.symbol,
        "ord_qty": str(o.qty),
        "ord_pric": str(o.price or 0),
        "oso_qty": str(o.remaining),
        "cntr_qty": str(o.filled),
        "cntr_pric": str(o.avg_fill_price),
        "io_tp_nm": io,
        "trde_tp": protocol.TRDE_TP[o.trde_tp][1],
        "stex_tp": _STEX_CODE.get(o.exchange, "0"),  # Kiwoom answers the code, text beside
        "stex_tp_txt": o.exchange,
        "stop_pric": str(o.stop_price or ""),
        "ord_stt": "체결" if o.filled else "접수",
    }


def open_orders(broker: Broker, call: Call) -> Answer:
    all_stk = choice(call.body, "all_stk_tp", ("0", "1"))
    side = choice(call.body, "trde_tp", ("0", "1", "2"))
    stex = choice(call.body, "stex_tp", ("0", "1", "2"))
    symbol = _symbol(call.body) if all_stk == "1" else None
    orders = _filter(broker.open_orders(), symbol, side, stex)

    def item(o: Order) -> dict[str, str]:
        return _common(broker, o) | {"tm": o.placed_at.astimezone(SEOUL).strftime("%H%M%S")}

    return _page(call, orders, "oso", item)


def fills(broker: Broker, call: Call) -> Answer:
    qry = choice(call.body, "qry_tp", ("0", "1"))
    side = choice(call.body, "sell_tp", ("0", "1", "2"))
    stex = choice(call.body, "stex_tp", ("0", "1", "2"))
    symbol = _symbol(call.body) if qry == "1" else None
    before = text(call.body, "ord_no", required=False)
    if before and not _number_ok(broker, before):
        raise malformed("ord_no")
    before = canonical(before) if before else ""
    listed = (
        list(broker.orders.values())
        if broker.behaviour.fills_list == "all"
        else broker.filled_orders()
    )
    orders = [o for o in _filter(listed, symbol, side, stex) if not before or o.ord_no < before]

    def item(o: Order) -> dict[str, str]:
        return _common(broker, o) | {"ord_tm": o.placed_at.astimezone(SEOUL).strftime("%H%M%S")}

    return _page(call, orders, "cntr", item)


def _signed(price: int, base: int) -> str:
    return f"+{price}" if price > base else f"-{price}" if price < base else str(price)


def quote(broker: Broker, call: Call) -> Answer:
    symbol = text(call.body, "stk_cd").removesuffix("_NX").removesuffix("_AL")
    if not _STK_CD.match(symbol):
        raise malformed("stk_cd")
    q = broker.market.quote(_listed(broker, symbol))
    change = q.price - q.base
    rate = abs(change) * 10000 // q.base
    sign = "-" if change < 0 else "+" if change > 0 else ""
    return Answer(
        body={
            "stk_cd": symbol,
            "stk_nm": q.name,
            "cur_prc": _signed(q.price, q.base),
            "base_pric": str(q.base),
            "upl_pric": _signed(q.upper, q.base),
            "lst_pric": _signed(q.lower, q.base),
            "pred_pre": f"{sign}{abs(change)}",
            "flu_rt": f"{sign}{rate // 100}.{rate % 100:02d}",
        }
    )


def stock_info(broker: Broker, call: Call) -> Answer:
    """ka10100 종목정보 조회: name and market of a code the simulator lists; the market
    code follows the symbol's kind (0 거래소 for a stock, 8 ETF, 60 ETN)."""
    from planrunner.krx.instruments import KIND_MARKETS

    symbol = text(call.body, "stk_cd")
    if not _STK_CD.match(symbol):
        raise malformed("stk_cd")
    s = broker.market.symbol(_listed(broker, symbol))
    market_code, market_name = KIND_MARKETS[s.kind]
    return Answer(
        body={
            "code": symbol,
            "name": s.name,
            "lastPrice": f"{s.base:08d}",
            "marketCode": market_code,
            "marketName": market_name,
            "orderWarning": "0",
            "nxtEnable": "Y",
        }
    )


HANDLERS: dict[str, Callable[[Broker, Call], Answer]] = {
    "kt10000": place,
    "kt10001": place,
    "kt10002": modify,
    "kt10003": cancel,
    "ka10075": open_orders,
    "ka10076": fills,
    "ka10001": quote,
    "ka10100": stock_info,
}

__all__ = ["HANDLERS", "Answer", "Call", "SimError"]
