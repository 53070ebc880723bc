"""Kiwoom wire constants: domains, URLs, api-ids, order-type codes, error-code classes.

Pure data: imported by compile (for `show`) and by the client; the simulator keeps its
own copy on purpose so the two check each other.
"""

from __future__ import annotations

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

# Error-code classes (the number inside "[code:message]" of return_msg).
NOT_EXECUTED_RATE = frozenset({"1700", "1701", "1702"})
BACK_OFF = frozenset({"1687"})
TOKEN_INVALID = frozenset({"8005"})
ENV_MISMATCH = frozenset({"8030", "8031"})
AUTH = frozenset({"8001", "8002", "8010", "8020", "8040", "8050", "8103"})
NOT_ON_MOCK = frozenset({"8104"})
BUG = frozenset({"1501", "1504", "1505", "1512", "1513", "1514", "1515", "1516"})
BAD_FIELD = frozenset({"1511", "1517"})
UNKNOWN_STOCK = frozenset({"1901", "1902", "1903"})
SERVER_ERROR = frozenset({"1999"})
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
