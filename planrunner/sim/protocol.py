"""The simulator's own tables: trde_tp codes, routes, and Kiwoom-style error answers.

Kept apart from planrunner.kiwoom on purpose (the client and the simulator check each
other). Messages follow Kiwoom's shape: `return_msg` carries `[code:message]`.
"""

from __future__ import annotations

# trde_tp (매매구분) → (plan order type, Korean name). Plan names as in planrunner.model.
TRDE_TP: dict[str, tuple[str, str]] = {
    "0": ("limit", "보통"),
    "3": ("market", "시장가"),
    "5": ("conditional", "조건부지정가"),
    "6": ("best", "최유리지정가"),
    "7": ("priority", "최우선지정가"),
    "10": ("limit_ioc", "보통(IOC)"),
    "13": ("market_ioc", "시장가(IOC)"),
    "16": ("best_ioc", "최유리(IOC)"),
    "20": ("limit_fok", "보통(FOK)"),
    "23": ("market_fok", "시장가(FOK)"),
    "26": ("best_fok", "최유리(FOK)"),
    "28": ("stop_limit", "스톱지정가"),
    "29": ("mid", "중간가"),
    "30": ("mid_ioc", "중간가(IOC)"),
    "31": ("mid_fok", "중간가(FOK)"),
    "61": ("after_hours_open", "장시작전시간외"),
    "62": ("after_hours_single", "시간외단일가"),
    "81": ("after_hours_close", "장마감후시간외"),
}
# Types that carry a limit price in ord_uv; every other type trades at the market.
PRICED = frozenset({"limit", "conditional", "limit_ioc", "limit_fok", "stop_limit"})
PRICED |= {"after_hours_single"}
IOC = frozenset({"limit_ioc", "market_ioc", "best_ioc", "mid_ioc"})
FOK = frozenset({"limit_fok", "market_fok", "best_fok", "mid_fok"})

# URL → the api-ids it serves. The token URLs accept a request without an api-id.
ROUTES: dict[str, frozenset[str]] = {
    "/oauth2/token": frozenset({"au10001"}),
    "/oauth2/revoke": frozenset({"au10002"}),
    "/api/dostk/ordr": frozenset({"kt10000", "kt10001", "kt10002", "kt10003"}),
    "/api/dostk/acnt": frozenset({"ka10075", "ka10076"}),
    "/api/dostk/stkinfo": frozenset({"ka10001", "ka10100"}),
}
TOKEN_ROUTES = {"/oauth2/token": "au10001", "/oauth2/revoke": "au10002"}
KNOWN_API_IDS = frozenset().union(*ROUTES.values())
ORDER_API_IDS = frozenset({"kt10000", "kt10001", "kt10002", "kt10003"})

# return_code families (clients should classify on the [code:...] inside return_msg).
RC_INPUT = 2  # 15xx: request malformed
RC_AUTH = 3  # 8xxx: token / key problems
RC_RATE = 5  # 17xx: rate limit, not executed
RC_SERVER = 1  # 1999: unexpected server error
RC_ORDER = 20  # 2100-2108, 1901: order rejected by the broker

# Business rejections: the simulator's own codes, documented in docs/simulator.md.
NO_SUCH_ORDER = 2100
ALREADY_FILLED = 2101
ALREADY_CANCELLED = 2102
ALREADY_MODIFIED = 2103
QTY_EXCEEDS_REMAINING = 2104
SYMBOL_MISMATCH = 2105
OFF_TICK = 2106
OUTSIDE_LIMITS = 2107
OUTSIDE_SESSION = 2108


class SimError(Exception):
    """A Kiwoom-style failure answer: HTTP status, return_code and `[code:message]`."""

    def __init__(self, *, return_code: int, code: int, message: str, status: int = 200) -> None:
        super().__init__(f"[{code}:{message}]")
        self.return_code = return_code
        self.code = code
        self.message = message
        self.status = status

    @property
    def return_msg(self) -> str:
        return f"[{self.code}:{self.message}]"


def missing(field: str) -> SimError:
    return SimError(
        return_code=RC_INPUT, code=1511, message=f"필수 입력 값에 값이 존재하지 않습니다({field})"
    )


def malformed(field: str) -> SimError:
    return SimError(
        return_code=RC_INPUT, code=1517, message=f"입력 값 형식이 올바르지 않습니다({field})"
    )


def rejected(code: int, message: str) -> SimError:
    return SimError(return_code=RC_ORDER, code=code, message=message)


def auth_error(code: int, message: str) -> SimError:
    return SimError(return_code=RC_AUTH, code=code, message=message)


def token_invalid() -> SimError:
    return auth_error(8005, "Token이 유효하지 않습니다")
