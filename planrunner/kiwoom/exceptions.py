"""What the broker said, or did not say, translated at the edge into one tree.

BrokerError                      planrunner.errors: everything from the broker (exit 2)
└── KiwoomError                  api_id, code, broker_message (Korean, as received), message
    ├── Rejected                 a business rejection; `reason` names which one
    │   ├── AlreadyFilled        EGW0008, RC4033, "체결된/수량이 없" reason "already-filled"
    │   ├── NoSuchOrder          EGW0009, RC4061, "주문번호를 확인"  reason "no-such-order"
    │   ├── MarketClosed         EGW0010, "장종료/장운영시간"        reason "market-closed"
    │   ├── PartiallyFilled      EGW0011                            reason "partially-filled"
    │   ├── PriceOutOfRange      RC4003, "상한가/하한가/호가단위"  reason "price-out-of-range"
    │   ├── BadField             1511, 1517, EGW0001                reason "bad-field"
    │   └── UnknownSymbol        1901–1903                          reason "unknown-symbol"
    ├── RateLimited              1700–1702, 1687, HTTP 429 (retried first; raised when exhausted)
    ├── AuthError                8001/8002/8010–8012/8020/8040/8050/8103, EGW0002, and a
    │                            token code (8003/8005/8006/8009/8015/8016) refused twice
    │   └── EnvironmentMismatch  8030/8031: a mock key or token used on live, or the reverse
    ├── NotSupportedOnMock       8104
    ├── ServerBug                1501/1504/1505/1512–1516: our request was malformed
    ├── ServerError              1999/EGW9999/5xx on a read, or a read that kept failing
    ├── Unreachable              nothing was sent: connection refused or timed out
    └── UnknownOutcome           an order POST may or may not have executed; carries
                                 `request` (api-id and body, never a key or token)

Codes and wording: planrunner.kiwoom.codes.ERRORS and KEYWORDS (one table, with sources).
Only order POSTs raise UnknownOutcome: the caller must reconcile through open orders
(ka10075) and fills (ka10076) before doing anything else with that order.
"""

from __future__ import annotations

from planrunner.errors import BrokerError
from planrunner.model import WireRequest


class KiwoomError(BrokerError):
    """One failed broker call: where (api_id), the broker's own words, and what to do."""

    advice = "See the broker's message."

    def __init__(
        self,
        message: str | None = None,
        *,
        api_id: str,
        code: str = "",
        broker_message: str = "",
        http_status: int | None = None,
    ) -> None:
        self.api_id = api_id
        self.code = code
        self.broker_message = broker_message
        self.http_status = http_status
        self.message = message or self.advice
        super().__init__(self.message)

    def __str__(self) -> str:
        said = f" — broker said [{self.code}] {self.broker_message}".rstrip()
        if not self.code and not self.broker_message:
            said = ""
        return f"{self.api_id}: {self.message}{said}"


# Each business rejection: its reason (what code reads) and its advice (what a trader is
# told). Which broker codes and wording lead to which: codes.ERRORS and KEYWORDS.
REJECTIONS: dict[str, str] = {
    "rejected": "The broker refused the request; nothing was executed. Check the order and plan.",
    "already-filled": "The order is already filled: nothing is left to modify or cancel.",
    "no-such-order": (
        "The broker knows no open order with that number: use the newest ord_no of the "
        "order's lineage, or check open orders (ka10075)."
    ),
    "market-closed": "The market is closed for this request: retry in the next session.",
    "partially-filled": (
        "The order is partially filled: cancel the remainder and place what is missing."
    ),
    "price-out-of-range": (
        "The price is outside today's limits or off the tick grid: fix the price."
    ),
    "bad-field": "A request field is missing or malformed: fix the plan (or report a bug).",
    "unknown-symbol": (
        "The broker does not know this stock code on that venue: check symbol and exchange."
    ),
    "insufficient-balance": (
        "The account cannot cover the order (sellable quantity or orderable cash): "
        "nothing was executed; check holdings and cash."
    ),
}


class Rejected(KiwoomError):
    """A business rejection; `reason` names which one (REJECTIONS)."""

    reason = "rejected"
    advice = REJECTIONS["rejected"]

    def __init_subclass__(cls, *, reason: str, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.reason, cls.advice = reason, REJECTIONS[reason]


class AlreadyFilled(Rejected, reason="already-filled"): ...


class NoSuchOrder(Rejected, reason="no-such-order"): ...


class MarketClosed(Rejected, reason="market-closed"): ...


class PartiallyFilled(Rejected, reason="partially-filled"): ...


class PriceOutOfRange(Rejected, reason="price-out-of-range"): ...


class BadField(Rejected, reason="bad-field"): ...


class UnknownSymbol(Rejected, reason="unknown-symbol"): ...


class InsufficientBalance(Rejected, reason="insufficient-balance"): ...


class RateLimited(KiwoomError):
    advice = (
        "The broker's rate limit was hit and retries ran out; nothing was executed. "
        "Lower the request rate (rate limits) and try again."
    )


class AuthError(KiwoomError):
    advice = (
        "The broker refused the credentials: check KIWOOM_APPKEY / KIWOOM_SECRETKEY and "
        "that the key is registered for this IP and environment."
    )


class EnvironmentMismatch(AuthError):
    advice = (
        "The key or token belongs to the other environment (mock vs live): use mock keys "
        "with --dry-run and live keys with --live."
    )


class NotSupportedOnMock(KiwoomError):
    advice = "This API is not offered on the mock domain: it works on live only."


class ServerBug(KiwoomError):
    advice = "The broker says our request was malformed (header or api-id): a planrunner bug."


class ServerError(KiwoomError):
    advice = "The broker failed to answer this read after retries: try again later."


class Unreachable(KiwoomError):
    advice = "Could not connect to the broker; nothing was sent. Check the network and base URL."


class UnknownOutcome(KiwoomError):
    """An order POST whose result we did not see. It is never resent automatically."""

    advice = (
        "The order may or may not have been executed: do not resend it; reconcile through "
        "open orders (ka10075) and fills (ka10076) first."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        request: WireRequest,
        code: str = "",
        broker_message: str = "",
        http_status: int | None = None,
    ) -> None:
        self.request = request
        super().__init__(
            message,
            api_id=request.api_id,
            code=code,
            broker_message=broker_message,
            http_status=http_status,
        )

    def __str__(self) -> str:
        return f"{super().__str__()} (request body: {self.request.body})"
