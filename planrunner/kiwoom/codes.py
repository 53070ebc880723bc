"""Kiwoom wire constants: domains, URLs, api-ids, order-type codes, error-code classes.

Pure data: imported by compile (for `show`) and by the client; the simulator keeps its
own copy on purpose so the two check each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from planrunner.errors import UsageError

LIVE_URL = "https://api.kiwoom.com"
MOCK_URL = "https://mockapi.kiwoom.com"
SIM_URL = "http://sim"  # placeholder host for an in-process simulator transport

TOKEN_PATH = "/oauth2/token"
REVOKE_PATH = "/oauth2/revoke"
ORDER_PATH = "/api/dostk/ordr"
ACCOUNT_PATH = "/api/dostk/acnt"
STKINFO_PATH = "/api/dostk/stkinfo"

TOKEN = "au10001"
REVOKE = "au10002"
BUY = "kt10000"
SELL = "kt10001"
MODIFY = "kt10002"
CANCEL = "kt10003"
OPEN_ORDERS = "ka10075"
FILLS = "ka10076"
QUOTE = "ka10001"
STOCK_INFO = "ka10100"  # 종목정보 조회: the code's market (marketCode), hence its kind

PATH_OF: dict[str, str] = {
    TOKEN: TOKEN_PATH,
    REVOKE: REVOKE_PATH,
    BUY: ORDER_PATH,
    SELL: ORDER_PATH,
    MODIFY: ORDER_PATH,
    CANCEL: ORDER_PATH,
    OPEN_ORDERS: ACCOUNT_PATH,
    FILLS: ACCOUNT_PATH,
    QUOTE: STKINFO_PATH,
    STOCK_INFO: STKINFO_PATH,
}
ORDER_APIS = frozenset({BUY, SELL, MODIFY, CANCEL})

# Plan order type -> trde_tp (매매구분).
TRDE_TP: dict[str, str] = {
    "limit": "0",  # 보통
    "market": "3",  # 시장가
    "conditional": "5",  # 조건부지정가
    "best": "6",  # 최유리지정가
    "priority": "7",  # 최우선지정가
    "limit_ioc": "10",  # 보통(IOC)
    "market_ioc": "13",  # 시장가(IOC)
    "best_ioc": "16",  # 최유리(IOC)
    "limit_fok": "20",  # 보통(FOK)
    "market_fok": "23",  # 시장가(FOK)
    "best_fok": "26",  # 최유리(FOK)
    "stop_limit": "28",  # 스톱지정가 (cond_uv = stop price)
    "mid": "29",  # 중간가
    "mid_ioc": "30",  # 중간가(IOC)
    "mid_fok": "31",  # 중간가(FOK)
    "after_hours_open": "61",  # 장시작전시간외
    "after_hours_single": "62",  # 시간외단일가
    "after_hours_close": "81",  # 장마감후시간외
}
ORDER_TYPE_OF: dict[str, str] = {v: k for k, v in TRDE_TP.items()}
# trde_tp -> the name the order lists (ka10075/ka10076) write for it.
TRDE_TP_NAME: dict[str, str] = {
    "0": "보통",
    "3": "시장가",
    "5": "조건부지정가",
    "6": "최유리지정가",
    "7": "최우선지정가",
    "10": "보통(IOC)",
    "13": "시장가(IOC)",
    "16": "최유리(IOC)",
    "20": "보통(FOK)",
    "23": "시장가(FOK)",
    "26": "최유리(FOK)",
    "28": "스톱지정가",
    "29": "중간가",
    "30": "중간가(IOC)",
    "31": "중간가(FOK)",
    "61": "장시작전시간외",
    "62": "시간외단일가",
    "81": "장마감후시간외",
}

# ---- the broker's error codes, one table ---------------------------------------------
# Every code of Kiwoom's published error table (its REST portal's 오류코드 sheet, as its
# official Python package `kiwoom` classes them in kiwoom/core/errors.py), plus the codes
# seen in mock answers, each with its class and where it comes from. The class decides
# what the client does:
#   token   refresh the token once and resend (the call was refused before execution)
#   rate    not executed: wait and retry; back-off: the same, slower
#   server  outcome unknown for an order (reconcile), retried for a read
#   gone    the order to modify/cancel no longer exists: routine for market/replace
#   filled  nothing left to modify or cancel
#   price   off the tick grid or outside the day's limits
#   other classes are failures: auth, env, mock, bug, field, symbol
SPEC = "Kiwoom REST API error table (official `kiwoom` package, core/errors.py)"
LOGS = "mock answers in public logs"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    cls: str
    meaning: str  # our English explanation; the broker's Korean text travels with the error
    source: str


ERRORS: dict[str, ErrorCode] = {
    e.code: e
    for e in (
        ErrorCode("1501", "bug", "api-id missing", SPEC),
        ErrorCode("1504", "bug", "api-id not served at this URL", SPEC),
        ErrorCode("1505", "bug", "unknown api-id", SPEC),
        ErrorCode("1511", "field", "a required field is empty", SPEC),
        ErrorCode("1512", "bug", "header missing or malformed", SPEC),
        ErrorCode("1513", "bug", "header missing or malformed", SPEC),
        ErrorCode("1514", "bug", "authorization header missing or malformed", SPEC),
        ErrorCode("1515", "bug", "authorization header missing or malformed", SPEC),
        ErrorCode("1516", "bug", "header value malformed", SPEC),
        ErrorCode("1517", "field", "a field's format is wrong", SPEC),
        ErrorCode("1687", "back-off", "recursive call blocked", SPEC),
        ErrorCode("1700", "rate", "rate limit per api-id (not executed)", SPEC),
        ErrorCode("1701", "rate", "overall rate limit (not executed)", SPEC),
        ErrorCode("1702", "rate", "group rate limit (not executed)", SPEC),
        ErrorCode("1901", "symbol", "unknown market code", SPEC),
        ErrorCode("1902", "symbol", "unknown stock code", SPEC),
        ErrorCode("1903", "symbol", "stock code not traded on that venue", SPEC),
        ErrorCode("1999", "server", "unexpected server error", SPEC),
        ErrorCode("8001", "auth", "app key rejected", SPEC),
        ErrorCode("8002", "auth", "secret key rejected", SPEC),
        ErrorCode("8003", "token", "access token rejected", SPEC),
        ErrorCode("8005", "token", "token invalid or expired", SPEC),
        ErrorCode("8006", "token", "access token rejected", SPEC),
        ErrorCode("8009", "token", "access token rejected", SPEC),
        ErrorCode("8010", "auth", "token issued to another IP address", SPEC),
        ErrorCode("8011", "auth", "app key or secret key rejected", SPEC),
        ErrorCode("8012", "auth", "app key or secret key rejected", SPEC),
        ErrorCode("8015", "token", "access token rejected", SPEC),
        ErrorCode("8016", "token", "access token rejected", SPEC),
        ErrorCode("8020", "auth", "app key or secret key missing", SPEC),
        ErrorCode("8030", "env", "key or token of the other environment (mock vs live)", SPEC),
        ErrorCode("8031", "env", "key or token of the other environment (mock vs live)", SPEC),
        ErrorCode("8040", "auth", "device authentication failed", SPEC),
        ErrorCode("8050", "auth", "designated-device authentication failed", SPEC),
        ErrorCode("8103", "auth", "device authentication failed", SPEC),
        ErrorCode("8104", "mock", "API not offered on the mock domain", SPEC),
        ErrorCode("RC4003", "price", "price off the tick grid (mock)", LOGS),
        ErrorCode("RC4033", "filled", "no quantity left to modify or cancel (mock)", LOGS),
        ErrorCode("RC4061", "gone", "check the order number: no such order (mock)", LOGS),
    )
}


def codes_of(*classes: str) -> frozenset[str]:
    return frozenset(c for c, e in ERRORS.items() if e.cls in classes)


# Error-code classes (the number inside "[code:message]" of return_msg).
NOT_EXECUTED_RATE = codes_of("rate")
BACK_OFF = codes_of("back-off")
TOKEN_INVALID = codes_of("token")
ENV_MISMATCH = codes_of("env")
AUTH = codes_of("auth")
NOT_ON_MOCK = codes_of("mock")
BUG = codes_of("bug")
BAD_FIELD = codes_of("field")
UNKNOWN_STOCK = codes_of("symbol")
SERVER_ERROR = codes_of("server")
ORDER_GONE = codes_of("gone")
NOTHING_LEFT = codes_of("filled")
BAD_PRICE = codes_of("price")

# Korean wording of order rejections that carry no code we know, matched with spaces
# removed, in this order ("부분체결" before "체결된"): (words, class, source).
SIM = "planrunner's simulator"
KEYWORDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("부분체결",), "partial", SIM),
    (("정정/취소할수량이없", "수량이없", "잔량이없"), "filled", LOGS + " (RC4033)"),
    (("체결된", "이미체결"), "filled", SIM),
    (("주문번호를확인", "주문번호확인"), "gone", LOGS + " (RC4061)"),
    (("주문이없", "존재하지않", "없는주문", "이미취소된", "이미정정된"), "gone", SIM),
    (("장종료", "장마감", "장운영", "장시간", "거래시간", "주문가능시간"), "closed", SIM),
    (("호가단위",), "price", LOGS + " (RC4003)"),
    (("상한가", "하한가", "상하한가", "가격범위", "가격제한폭"), "price", SIM),
    (("매도가능수량", "주문가능수량", "주문가능금액", "증거금부족"), "balance", SIM),
)
# The older {rt_cd, msg_cd, msg1, msg2} envelope codes.
GUIDE_FILLED = "EGW0008"
GUIDE_NO_ORDER = "EGW0009"
GUIDE_CLOSED = "EGW0010"
GUIDE_PARTIAL = "EGW0011"
GUIDE_AUTH = "EGW0002"
GUIDE_SYSTEM = "EGW9999"


def base_url_for(env: str, base_url: str | None) -> str:
    """The base URL of an environment; a mock client never talks to live, nor the reverse."""
    default = {"mock": MOCK_URL, "live": LIVE_URL, "sim": SIM_URL}[env]
    url = (base_url or default).rstrip("/")
    other = {"mock": LIVE_URL, "live": MOCK_URL}.get(env)
    if other and url == other:
        raise UsageError(f"env {env} cannot use {other}: mock and live never mix")
    return url
