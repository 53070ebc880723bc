"""Read a broker answer's envelope and name its failure. Pure: no I/O.

Two envelopes reach us. The official one: `return_code` (0 = success) and `return_msg`
carrying `[code:message]` (`[8005:Token이 유효하지 않습니다]`). The older one:
`{rt_cd, msg_cd, msg1, msg2}` (`EGW0008` already filled…). A business failure usually
arrives as HTTP 200, so the body decides, never the status alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from planrunner.kiwoom import codes
from planrunner.kiwoom import exceptions as e

# What the client does about a failure, before it becomes an exception.
Kind = Literal["token", "rate", "server", "final"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    code: str  # "8005", "EGW0008", or the bare return_code when no code is given
    message: str  # the broker's text, as received
    kind: Kind
    # False when the answer named no code and `code` is our guess from the return_code.
    stated: bool = True


_BRACKET = re.compile(r"\[\s*([A-Za-z]*\d+)\s*:\s*([^\]]*)\]")
_PAREN = re.compile(r"\(\s*([A-Za-z]*\d+)\s*:\s*([^)]*)\)")

_GUIDE: dict[str, type[e.KiwoomError]] = {
    codes.GUIDE_FILLED: e.AlreadyFilled,
    codes.GUIDE_NO_ORDER: e.NoSuchOrder,
    codes.GUIDE_CLOSED: e.MarketClosed,
    codes.GUIDE_PARTIAL: e.PartiallyFilled,
    "EGW0001": e.BadField,
}

# What each class of codes.ERRORS / codes.KEYWORDS raises, once the client stops retrying.
_CLASS: dict[str, type[e.KiwoomError]] = {
    "env": e.EnvironmentMismatch,
    "auth": e.AuthError,
    "mock": e.NotSupportedOnMock,
    "bug": e.ServerBug,
    "field": e.BadField,
    "symbol": e.UnknownSymbol,
    "gone": e.NoSuchOrder,
    "filled": e.AlreadyFilled,
    "partial": e.PartiallyFilled,
    "closed": e.MarketClosed,
    "price": e.PriceOutOfRange,
    "balance": e.InsufficientBalance,
}


def body_of(content: bytes) -> dict[str, Any]:
    """The answer's JSON object; {} when it is empty, not JSON, or not an object."""
    try:
        data = json.loads(content) if content else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def failure_of(data: Mapping[str, object]) -> Failure | None:
    """None when the body says success; otherwise the code, the text and what to do."""
    if "rt_cd" in data and str(data["rt_cd"]).strip() not in ("0", ""):
        code = str(data.get("msg_cd") or data["rt_cd"])
        parts = [str(data[k]) for k in ("msg1", "msg2") if data.get(k)]
        return _failure(code, " / ".join(parts))
    rc = data.get("return_code", 0)
    if str(rc).strip() in ("0", ""):
        return None
    msg = str(data.get("return_msg", ""))
    m = _BRACKET.search(msg) or _PAREN.search(msg)
    if m:
        return _failure(m.group(1), msg)
    # No code inside the message: the return_code itself is all we have.
    if str(rc) == "3":
        return Failure(code="8005", message=msg, kind="token", stated=False)
    if str(rc) == "5":
        return Failure(code="1700", message=msg, kind="rate", stated=False)
    return Failure(code=str(rc), message=msg, kind="final", stated=False)


def _failure(code: str, message: str) -> Failure:
    if code in codes.TOKEN_INVALID or code == codes.GUIDE_AUTH:
        kind: Kind = "token"
    elif code in codes.NOT_EXECUTED_RATE or code in codes.BACK_OFF:
        kind = "rate"
    elif code in codes.SERVER_ERROR or code == codes.GUIDE_SYSTEM:
        kind = "server"
    else:
        kind = "final"
    return Failure(code=code, message=message, kind=kind)


def error_class(failure: Failure) -> type[e.KiwoomError]:
    """The exception for a failure the client will not (or no longer) retry."""
    if failure.kind == "token":
        return e.AuthError
    if failure.kind == "rate":
        return e.RateLimited
    if failure.kind == "server":
        return e.ServerError
    if failure.code in _GUIDE:
        return _GUIDE[failure.code]
    known = codes.ERRORS.get(failure.code)
    if known is not None and known.cls in _CLASS:
        return _CLASS[known.cls]
    text = "".join(failure.message.split())
    for words, cls, _source in codes.KEYWORDS:
        if any(w in text for w in words):
            return _CLASS[cls]
    return e.Rejected


def releases_order(failure: Failure) -> bool:
    """Whether this answer to an order request is known to mean "not executed".

    Only such answers let a request go (or be resent): a rate limit or a refused token
    whose code the answer states (1700–1702, 1687, HTTP 429, 8005, EGW0002), and a
    refusal the broker names, by a documented code or by a rejection sentence we know
    (already filled, no such order, market closed, price out of range, bad field, unknown
    stock, credentials). Anything else after the request left (a bare `return_code`, a
    code nobody documented, a 4xx without an envelope) leaves the order's fate unknown.
    """
    if failure.kind in ("token", "rate"):
        return failure.stated
    if failure.kind == "server":
        return False
    return error_class(failure) is not e.Rejected


def error_for(
    failure: Failure, *, api_id: str, http_status: int | None, message: str | None = None
) -> e.KiwoomError:
    cls = error_class(failure)
    return cls(
        message,
        api_id=api_id,
        code=failure.code,
        broker_message=failure.message,
        http_status=http_status,
    )


def verdict(status: int, data: Mapping[str, object], text: str) -> Failure | None:
    """The answer's verdict: the body's, with the HTTP status as the fallback."""
    failure = failure_of(data) if data else None
    if status == 429 and (failure is None or failure.kind != "rate"):
        return Failure(code="429", message=failure.message if failure else "", kind="rate")
    if status >= 500:
        return Failure(
            code=str(status), message=failure.message if failure else text[:200], kind="server"
        )
    if failure is None and (status >= 400 or not data):
        # A 4xx without an envelope is our bug; a 2xx without a body tells nothing.
        kind: Kind = "final" if status >= 400 else "server"
        return Failure(code=str(status), message=text, kind=kind)
    return failure


def retry_after(headers: Mapping[str, str]) -> float | None:
    """A rate-limit answer's Retry-After, in seconds, when it gives one."""
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None
