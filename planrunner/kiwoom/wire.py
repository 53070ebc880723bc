"""Request bodies in Kiwoom's official field names. Pure: no I/O, no httpx.

Every value is a string, as Kiwoom requires. Quantities and prices may be passed as
placeholder strings (`"<entry@2>"`, `"<confirmed qty>"`) so `show` can print the exact
request before the values are known; the client passes ints.
"""

from __future__ import annotations

from planrunner.kiwoom import codes
from planrunner.model import PRICED_TYPES, WireRequest

Value = int | str


def _s(v: Value | None) -> str:
    return "" if v is None else str(v)


def place_request(
    *,
    symbol: str,
    side: str,
    qty: Value,
    price: Value | None,
    order_type: str,
    exchange: str = "KRX",
    stop_price: Value | None = None,
) -> WireRequest:
    """kt10000 (buy) / kt10001 (sell). `ord_uv` is empty for unpriced types (market…)."""
    if order_type not in codes.TRDE_TP:
        raise ValueError(f"unknown order type {order_type!r}")
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}")
    body = {
        "dmst_stex_tp": exchange,
        "stk_cd": symbol,
        "ord_qty": _s(qty),
        "ord_uv": _s(price) if order_type in PRICED_TYPES else "",
        "trde_tp": codes.TRDE_TP[order_type],
        "cond_uv": _s(stop_price) if order_type == "stop_limit" else "",
    }
    return WireRequest(api_id=codes.BUY if side == "buy" else codes.SELL, body=body)


def modify_request(
    *,
    orig_ord_no: str,
    symbol: str,
    price: Value,
    qty: Value = 0,
    exchange: str = "KRX",
    stop_price: Value | None = None,
) -> WireRequest:
    """kt10002. `mdfy_qty "0"` modifies all remaining. There is no trde_tp: a modify never
    changes the order type."""
    body = {
        "dmst_stex_tp": exchange,
        "orig_ord_no": orig_ord_no,
        "stk_cd": symbol,
        "mdfy_qty": _s(qty),
        "mdfy_uv": _s(price),
    }
    if stop_price is not None:
        body["mdfy_cond_uv"] = _s(stop_price)
    return WireRequest(api_id=codes.MODIFY, body=body)


def cancel_request(
    *, orig_ord_no: str, symbol: str, qty: Value = 0, exchange: str = "KRX"
) -> WireRequest:
    """kt10003. `cncl_qty "0"` cancels all remaining; a number cancels that many."""
    body = {
        "dmst_stex_tp": exchange,
        "orig_ord_no": orig_ord_no,
        "stk_cd": symbol,
        "cncl_qty": _s(qty),
    }
    return WireRequest(api_id=codes.CANCEL, body=body)


# The number fields of each order body: (field, whether "0" is allowed, whether it may be
# empty). Anything else there (a placeholder such as `<entry@2>`, a sign, a space) is not
# a request that can be sent.
_NUMBERS: dict[str, tuple[tuple[str, bool, bool], ...]] = {
    codes.BUY: (("ord_qty", False, False), ("ord_uv", False, True), ("cond_uv", False, True)),
    codes.MODIFY: (
        ("mdfy_qty", True, False),
        ("mdfy_uv", False, False),
        ("mdfy_cond_uv", False, True),
    ),
    codes.CANCEL: (("cncl_qty", True, False),),
}
_NUMBERS[codes.SELL] = _NUMBERS[codes.BUY]
_PRICED_TP = frozenset(codes.TRDE_TP[t] for t in PRICED_TYPES)


def check_order(request: WireRequest) -> None:
    """Refuse, before it is journaled or sent, an order request that cannot go on the wire
    as it stands: not an order API, a placeholder or a non-positive number in a number
    field, a modify or cancel without the number of its order. ValueError."""
    fields = _NUMBERS.get(request.api_id)
    if fields is None:
        raise ValueError(f"{request.api_id} is not an order request")
    body = request.body
    for name, zero, empty in fields:
        value = body.get(name, "" if empty else None)
        if value == "" and empty:
            continue
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise ValueError(f"{request.api_id} {name} must be a whole number: {value!r}")
        if not zero and int(value) == 0:
            raise ValueError(f"{request.api_id} {name} must be positive: {value!r}")
    if request.api_id in (codes.BUY, codes.SELL):
        trde_tp = body.get("trde_tp")
        if trde_tp not in codes.TRDE_TP.values():
            raise ValueError(f"{request.api_id} trde_tp {trde_tp!r} is not an order type")
        if trde_tp in _PRICED_TP and not body.get("ord_uv"):
            raise ValueError(f"{request.api_id} ord_uv is needed for trde_tp {trde_tp}")
        if trde_tp == codes.TRDE_TP["stop_limit"] and not body.get("cond_uv"):
            raise ValueError(f"{request.api_id} cond_uv is needed for a stop_limit order")
    if request.api_id in (codes.MODIFY, codes.CANCEL) and not body.get("orig_ord_no"):
        raise ValueError(f"{request.api_id} needs the number of the order it acts on")


_SIDE_FILTER = {None: "0", "sell": "1", "buy": "2"}
_STEX = {None: "0", "KRX": "1", "NXT": "2"}


def _side_filter(side: str | None) -> str:
    if side not in _SIDE_FILTER:
        raise ValueError(f"side must be 'buy', 'sell' or None, not {side!r}")
    return _SIDE_FILTER[side]


def open_orders_request(
    *, symbol: str | None = None, side: str | None = None, exchange: str | None = None
) -> WireRequest:
    """ka10075 미체결 (open orders)."""
    body = {
        "all_stk_tp": "1" if symbol else "0",
        "trde_tp": _side_filter(side),
        "stk_cd": symbol or "",
        "stex_tp": _STEX.get(exchange, "0"),
    }
    return WireRequest(api_id=codes.OPEN_ORDERS, body=body)


def fills_request(
    *,
    symbol: str | None = None,
    side: str | None = None,
    exchange: str | None = None,
    before_ord_no: str | None = None,
) -> WireRequest:
    """ka10076 체결 (fills)."""
    body = {
        "stk_cd": symbol or "",
        "qry_tp": "1" if symbol else "0",
        "sell_tp": _side_filter(side),
        "ord_no": before_ord_no or "",
        "stex_tp": _STEX.get(exchange, "0"),
    }
    return WireRequest(api_id=codes.FILLS, body=body)


def quote_request(*, symbol: str) -> WireRequest:
    """ka10001 주식기본정보 (current price and the day's limits)."""
    return WireRequest(api_id=codes.QUOTE, body={"stk_cd": symbol})


def stock_info_request(*, symbol: str) -> WireRequest:
    """ka10100 종목정보 조회 (the code's name and market: `marketCode`, `marketName`)."""
    return WireRequest(api_id=codes.STOCK_INFO, body={"stk_cd": symbol})


def token_request(*, appkey: str, secretkey: str) -> WireRequest:
    """au10001. The body holds secrets: never log, print or journal this request."""
    body = {"grant_type": "client_credentials", "appkey": appkey, "secretkey": secretkey}
    return WireRequest(api_id=codes.TOKEN, body=body)


def revoke_request(*, appkey: str, secretkey: str, token: str) -> WireRequest:
    """au10002. The body holds secrets: never log, print or journal this request."""
    body = {"appkey": appkey, "secretkey": secretkey, "token": token}
    return WireRequest(api_id=codes.REVOKE, body=body)
