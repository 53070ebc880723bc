"""Typed answers of the client, and their parsing from the broker's string fields.

Broker field names stop here: callers get product words (symbol, price, qty) and ints.
Quantities arrive as strings, often zero-padded (`"000000000010"`); prices carry a sign
for the direction against yesterday (`"-160400"`), so we keep their absolute value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planrunner.model import Side

NO_ORDER = "0000000"  # orig_ord_no of an order that was not a modify or cancel


def ord_key(ord_no: object) -> str:
    """An order number for comparing: Kiwoom writes 7 digits ("0000024"), its examples
    also "00024"; both are the same number. Requests keep the broker's own text."""
    text = str(ord_no if ord_no is not None else "").strip()
    return text.lstrip("0") or ("0" if text else "") if text.isdigit() else text


def same_ord_no(a: object, b: object) -> bool:
    return bool(ord_key(a)) and ord_key(a) == ord_key(b)


def qty_of(value: object) -> int:
    """`"000000000010"` → 10; empty → 0."""
    text = str(value if value is not None else "").strip().replace(",", "")
    return int(text) if text.lstrip("+-") else 0


def price_of(value: object) -> int:
    """`"-160400"` → 160400 (the sign is the direction against yesterday); empty → 0."""
    return abs(qty_of(value))


def require_int(name: str, value: int | None, *, zero: bool = False) -> None:
    """Refuse, before anything is sent, a quantity or price that is not a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise ValueError(
            f"{name} must be a {'non-negative' if zero else 'positive'} int: {value!r}"
        )


def _str(item: Mapping[str, object], key: str) -> str:
    return str(item.get(key) or "").strip()


_STEX_TP = {"1": "KRX", "2": "NXT"}


def exchange_of(item: Mapping[str, object]) -> str:
    """ka10075's venue: Kiwoom answers `stex_tp` as a code ("1") with `stex_tp_txt`
    ("KRX") beside it; a plain name in `stex_tp` is read as it is."""
    text = _str(item, "stex_tp_txt")
    code = _str(item, "stex_tp")
    return text or _STEX_TP.get(code, code)


def side_of(text: str) -> Side | None:
    """`+매수`, `-매도정정`, `매수취소`… → buy / sell."""
    if "매수" in text:
        return "buy"
    if "매도" in text:
        return "sell"
    return None


def ord_no_of(data: Mapping[str, object]) -> str:
    """The answer's order number; KeyError when a success answer lacks one."""
    ord_no = _str(data, "ord_no")
    if not ord_no:
        raise KeyError("ord_no")
    return ord_no


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceAck:
    ord_no: str
    exchange: str

    @classmethod
    def from_wire(cls, data: Mapping[str, object], exchange: str) -> PlaceAck:
        return cls(ord_no=ord_no_of(data), exchange=_str(data, "dmst_stex_tp") or exchange)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyAck:
    ord_no: str  # the new number: later modifies and cancels must use it
    base_orig_ord_no: str  # the lineage's first number (0000139 in 139 → 140 → 141)
    qty: int  # the quantity modified (the broker's mdfy_qty)

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> ModifyAck:
        return cls(
            ord_no=ord_no_of(data),
            base_orig_ord_no=_str(data, "base_orig_ord_no"),
            qty=qty_of(data.get("mdfy_qty")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAck:
    ord_no: str  # the new number the cancel itself got
    base_orig_ord_no: str
    qty: int  # the quantity cancelled (the broker's cncl_qty)

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> CancelAck:
        return cls(
            ord_no=ord_no_of(data),
            base_orig_ord_no=_str(data, "base_orig_ord_no"),
            qty=qty_of(data.get("cncl_qty")),
        )


def _row(item: Mapping[str, object]) -> dict[str, Any]:
    """The fields ka10075 (open orders) and ka10076 (fills) rows share."""
    orig = _str(item, "orig_ord_no")
    return {
        "ord_no": _str(item, "ord_no"),
        "orig_ord_no": None if ord_key(orig) in ("", "0") else orig,
        "symbol": _str(item, "stk_cd"),
        "side": side_of(_str(item, "io_tp_nm")),
        "status": _str(item, "ord_stt"),
        "qty": qty_of(item.get("ord_qty")),
        "price": price_of(item.get("ord_pric")),
        "open_qty": qty_of(item.get("oso_qty")),
        "filled_qty": qty_of(item.get("cntr_qty")),
        "fill_price": price_of(item.get("cntr_pric")),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenOrder:
    """One ka10075 row: an order with something still unfilled."""

    ord_no: str
    orig_ord_no: str | None  # None when the order is not a modify/cancel of another
    symbol: str
    side: Side | None
    status: str  # ord_stt as the broker writes it (접수, 확인…)
    qty: int
    price: int
    open_qty: int
    filled_qty: int
    fill_price: int
    order_type: str  # trde_tp as text (보통, 시장가…)
    time: str  # HHmmss
    exchange: str
    stop_price: int

    @classmethod
    def from_wire(cls, item: Mapping[str, object]) -> OpenOrder:
        return cls(
            **_row(item),
            order_type=_str(item, "trde_tp"),
            time=_str(item, "tm"),
            exchange=exchange_of(item),
            stop_price=price_of(item.get("stop_pric")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One ka10076 row: an order of today with its filled quantity and price."""

    ord_no: str
    orig_ord_no: str | None
    symbol: str
    side: Side | None
    status: str
    qty: int
    price: int
    filled_qty: int
    fill_price: int
    open_qty: int
    time: str  # ord_tm, HHmmss
    order_type: str = ""  # trde_tp as text, when the row gives it

    @classmethod
    def from_wire(cls, item: Mapping[str, object]) -> Fill:
        return cls(**_row(item), time=_str(item, "ord_tm"), order_type=_str(item, "trde_tp"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """ka10001: the current price and today's limits, in won."""

    symbol: str
    price: int
    upper_limit: int
    lower_limit: int
    base_price: int

    @classmethod
    def from_wire(cls, symbol: str, data: Mapping[str, object]) -> Quote:
        return cls(
            symbol=_str(data, "stk_cd") or symbol,
            price=price_of(data.get("cur_prc")),
            upper_limit=price_of(data.get("upl_pric")),
            lower_limit=price_of(data.get("lst_pric")),
            base_price=price_of(data.get("base_pric")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StockInfo:
    """ka10100 종목정보 조회: a code's name and the market Kiwoom lists it under."""

    symbol: str
    name: str
    market_code: str  # marketCode: "0" KOSPI, "10" KOSDAQ, "8" ETF, ...
    market_name: str  # marketName, as Kiwoom writes it

    @classmethod
    def from_wire(cls, symbol: str, data: Mapping[str, object]) -> StockInfo:
        return cls(
            symbol=_str(data, "code") or symbol,
            name=_str(data, "name"),
            market_code=_str(data, "marketCode"),
            market_name=_str(data, "marketName"),
        )
