"""Random broker answers through the real KiwoomClient, and the properties it keeps.

An `httpx.MockTransport` answers each request from a generated script: any HTTP status,
valid or broken JSON, the official `{return_code, return_msg}` envelope with a
`return_code` of any type and `[code:msg]` junk, the guide's `{rt_cd, msg_cd, msg1,
msg2}` envelope, missing or extra fields of any type, paging headers, or a transport
error (refused before sending, or dropped after). Shared by tests/fuzz/test_fuzz_client.py
and bench/fuzz.py; `check` returns what went wrong (empty = the properties held):

- every call ends in a typed value or an exception of the documented tree
  (`KiwoomError` subclasses; `UsageError`/`ValueError` only for bad arguments);
- an order POST (kt10000-kt10003) is resent only after an answer that proved it was not
  executed: a connection never made, HTTP 429, a rate-limit code (1700-1702, 1687,
  return_code 5), or a refused token (8005 / EGW0002 / return_code 3, once per call);
- an order whose last answer was ambiguous (a drop after sending, HTTP 5xx) raises
  UnknownOutcome, never a rejection;
- the app key, secret key and token never appear in an exception's text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st

from planrunner.clock import SEOUL, ManualClock
from planrunner.errors import UsageError
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom import types
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits

APPKEY = "APPKEY-canary-7f3a9c2e51d04b6b"
SECRETKEY = "SECRET-canary-0d94e1a7b3c65f28"
TOKEN = "TOKEN-canary-5b1e8f0a2c7d93e4"
ORDER_APIS = ("kt10000", "kt10001", "kt10002", "kt10003")
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
AFTER_SENDING = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError)
RATE_CODES = ("1700", "1701", "1702", "1687")
TOKEN_CODES = ("8005", "EGW0002")

# ---- answers ---------------------------------------------------------------------------

ANY_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["", "0", "00000010", "-160400", "+70000", "1,000", " 7 ", "abc"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)
CODES = [
    "8005",
    "8030",
    "8031",
    "8001",
    "8104",
    "1700",
    "1701",
    "1702",
    "1687",
    "1999",
    "1501",
    "1504",
    "1511",
    "1517",
    "1901",
    "EGW0002",
    "EGW0008",
    "EGW0009",
    "EGW0010",
    "EGW0011",
    "EGW9999",
    "0",
    "9999",
    "",
    "abc",
]
WORDS = st.sampled_from(
    [
        "정상적으로 처리되었습니다",
        "Token이 유효하지 않습니다",
        "허용된 요청 개수를 초과하였습니다",
        "체결된 주문입니다",
        "주문이 없습니다",
        "장종료",
        "부분체결",
        "상한가 초과",
        "",
        f"echo {APPKEY}",
        f"echo {SECRETKEY}",
        f"Bearer {TOKEN}",
    ]
)
MESSAGE = st.one_of(
    st.builds(lambda c, w: f"[{c}:{w}]", st.sampled_from(CODES), WORDS),
    st.builds(lambda c, w: f"({c}:{w})", st.sampled_from(CODES), WORDS),
    st.builds(lambda c, w: f"[{c}:{w}", st.sampled_from(CODES), WORDS),  # unclosed
    WORDS,
    st.text(max_size=20),
)
RETURN_CODE = st.one_of(
    st.sampled_from([0, 0, 0, 1, 2, 3, 5, -1, 99]),
    st.sampled_from(["0", "", "3", "5", " 0 ", "1"]),
    ANY_JSON,
)


def _fields() -> st.SearchStrategy[dict[str, Any]]:
    value = st.one_of(
        st.sampled_from(["0000139", "0000140", "", "0000000", "KRX", "000000000010", "-160400"]),
        ANY_JSON,
    )
    row = st.fixed_dictionaries(
        {},
        optional={
            k: value
            for k in (
                "ord_no",
                "orig_ord_no",
                "stk_cd",
                "io_tp_nm",
                "ord_stt",
                "ord_qty",
                "ord_pric",
                "oso_qty",
                "cntr_qty",
                "cntr_pric",
                "trde_tp",
                "tm",
                "stex_tp",
                "stop_pric",
                "ord_tm",
            )
        },
    )
    rows = st.one_of(st.lists(st.one_of(row, ANY_JSON), max_size=3), ANY_JSON)
    return st.fixed_dictionaries(
        {},
        optional={
            "ord_no": value,
            "base_orig_ord_no": value,
            "mdfy_qty": value,
            "cncl_qty": value,
            "dmst_stex_tp": value,
            "oso": rows,
            "cntr": rows,
            "cur_prc": value,
            "upl_pric": value,
            "lst_pric": value,
            "base_pric": value,
            "stk_cd": value,
            "token": st.one_of(st.just("TOKEN-fuzz-2"), ANY_JSON),
            "expires_dt": st.one_of(st.sampled_from(["20991231235959", "2099"]), ANY_JSON),
            "bogus": ANY_JSON,
        },
    )


OFFICIAL = st.builds(
    lambda head, fields: {**fields, **head},
    st.fixed_dictionaries({}, optional={"return_code": RETURN_CODE, "return_msg": MESSAGE}),
    _fields(),
)
GUIDE = st.builds(
    lambda head, fields: {**fields, **head},
    st.fixed_dictionaries(
        {"rt_cd": st.one_of(st.sampled_from(["0", "1", "", 1, 0]), ANY_JSON)},
        optional={
            "msg_cd": st.one_of(st.sampled_from(CODES), ANY_JSON),
            "msg1": st.one_of(WORDS, ANY_JSON),
            "msg2": st.one_of(WORDS, ANY_JSON),
        },
    ),
    _fields(),
)
CONTENT = st.one_of(
    OFFICIAL.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    OFFICIAL.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    GUIDE.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    ANY_JSON.map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"", b"{", b"null", b"[]", b'"ok"', b"<html>502 Bad Gateway</html>"]),
    st.binary(max_size=40),
)
STATUS = st.one_of(
    st.sampled_from([200, 200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503]),
    st.integers(min_value=100, max_value=599),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "cont-yn": st.sampled_from(["Y", "N", "y", "", "maybe"]),
        "next-key": st.text(alphabet="abcXYZ0123456789 ", max_size=8),
        "retry-after": st.sampled_from(["0", "1", "2.5", "-3", "abc", "999999"]),
    },
)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    content: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    raises: type[httpx.TransportError] | None = None

    def __repr__(self) -> str:
        if self.raises is not None:
            return f"Answer(raises={self.raises.__name__})"
        return f"Answer({self.status}, {self.content[:120]!r}, {dict(self.headers)})"


ANSWER = st.one_of(
    *[
        st.builds(
            lambda s, c, h: Answer(s, c, tuple(h.items())),
            STATUS,
            CONTENT,
            HEADERS,
        )
    ]
    * 6,
    st.sampled_from([*NOT_SENT, *AFTER_SENDING]).map(lambda x: Answer(raises=x)),
)

OK_TOKEN = Answer(
    200,
    json.dumps(
        {"return_code": 0, "return_msg": "ok", "token": TOKEN, "expires_dt": "20991231235959"}
    ).encode(),
)
# What the broker says once a script runs out: a plain success, so calls end.
FALLBACK = Answer(
    200,
    json.dumps(
        {
            "return_code": 0,
            "return_msg": "ok",
            "ord_no": "0000999",
            "base_orig_ord_no": "0000139",
            "mdfy_qty": "10",
            "cncl_qty": "10",
            "cur_prc": "70000",
            "oso": [],
            "cntr": [],
        }
    ).encode(),
)

# ---- the call ----------------------------------------------------------------------------

CALLS = ["place", "place", "modify", "cancel", "open_orders", "fills", "quote"]
GOOD_ARGS: dict[str, dict[str, Any]] = {
    "place": {
        "symbol": "005930",
        "side": "buy",
        "qty": 10,
        "price": 70000,
        "order_type": "limit",
    },
    "modify": {"orig_ord_no": "0000139", "symbol": "005930", "price": 70100, "qty": 0},
    "cancel": {"orig_ord_no": "0000139", "symbol": "005930", "qty": 0},
    "open_orders": {},
    "fills": {},
    "quote": {"symbol": "005930"},
}
BAD_ARGS: dict[str, list[dict[str, Any]]] = {
    "place": [
        {"qty": 0},
        {"qty": -1},
        {"qty": True},
        {"qty": "10"},
        {"price": None},
        {"price": 0},
        {"order_type": "stop_limit"},
        {"side": "short"},
        {"order_type": "nonsense"},
        {"exchange": "NYSE"},
    ],
    "modify": [{"price": 0}, {"qty": -1}, {"price": "70100"}],
    "cancel": [{"qty": -1}, {"qty": 1.5}],
    "open_orders": [{"side": "short"}],
    "fills": [{"exchange": "NYSE"}],
    "quote": [],
}


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A call, its arguments (sometimes bad), and the broker's scripted answers."""
    call = draw(st.sampled_from(CALLS))
    kwargs = dict(GOOD_ARGS[call])
    bad = bool(BAD_ARGS[call]) and draw(st.integers(min_value=0, max_value=9)) == 0
    if bad:
        kwargs.update(draw(st.sampled_from(BAD_ARGS[call])))
    if call == "place" and draw(st.booleans()):
        kwargs["side"] = "sell"  # kt10001
    token_script = draw(st.one_of(st.just([OK_TOKEN]), st.lists(ANSWER, max_size=2)))
    script = draw(st.lists(ANSWER, min_size=1, max_size=8))
    return Scenario(
        call=call, kwargs=kwargs, bad_args=bad, token_script=token_script, script=script
    )


@dataclass
class Scenario:
    call: str
    kwargs: dict[str, Any]
    bad_args: bool
    token_script: list[Answer]
    script: list[Answer]
    seen: list[tuple[str, Answer]] = field(default_factory=list)
    outcome: object = None  # what the call returned or raised, once checked


def _respond(answer: Answer, request: httpx.Request) -> httpx.Response:
    if answer.raises is not None:
        raise answer.raises("fuzz", request=request)
    return httpx.Response(answer.status, content=answer.content, headers=list(answer.headers))


def _body(answer: Answer) -> dict[str, Any] | None:
    try:
        data = json.loads(answer.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def proves_not_executed(answer: Answer) -> str | None:
    """Why this answer to an order POST proves it was not executed ("connect", "rate",
    "token"), or None. Generous on purpose: the client may be more careful, never less."""
    if answer.raises is not None:
        return "connect" if issubclass(answer.raises, NOT_SENT) else None
    if answer.status == 429:
        return "rate"
    if answer.status >= 500:
        return None
    body = _body(answer)
    if body is None:
        return None
    text = answer.content.decode("utf-8", "replace")
    rc = str(body.get("return_code", "")).strip()
    if any(c in text for c in RATE_CODES) or rc == "5":
        return "rate"
    if any(c in text for c in TOKEN_CODES) or rc == "3":
        return "token"
    return None


def ambiguous(answer: Answer) -> bool:
    """An answer after which an order may well have executed."""
    if answer.raises is not None:
        return not issubclass(answer.raises, NOT_SENT)
    return answer.status >= 500


def check(sc: Scenario) -> list[str]:
    """Run one scenario through a fresh client; return every broken property."""
    token_left = list(sc.token_script)
    left = list(sc.script)
    tokens_issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        api_id = request.headers.get("api-id", "")
        if api_id == "au10001":
            answer = token_left.pop(0) if token_left else OK_TOKEN
            body = _body(answer)
            if body and isinstance(body.get("token"), str):
                tokens_issued.append(body["token"])
        else:
            answer = left.pop(0) if left else FALLBACK
        sc.seen.append((api_id, answer))
        return _respond(answer, request)

    client = KiwoomClient(
        appkey=APPKEY,
        secretkey=SECRETKEY,
        env="mock",
        base_url="http://broker.test",
        transport=httpx.MockTransport(handler),
        clock=ManualClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=SEOUL)),
        sleep=lambda s: None,
        rate_limits=RateLimits(),
    )
    bad: list[str] = []
    outcome: object
    try:
        outcome = getattr(client, sc.call)(**sc.kwargs)
    except e.KiwoomError as exc:
        outcome = exc
    except (UsageError, ValueError) as exc:
        outcome = exc
        if not sc.bad_args:
            bad.append(f"{type(exc).__name__} for good arguments: {exc}")
    except Exception as exc:  # the property: nothing outside the documented tree
        return [f"undocumented {type(exc).__name__}: {exc!r}"]
    finally:
        client.close()

    sc.outcome = outcome
    bad += _typed(sc.call, outcome)
    if isinstance(outcome, BaseException):
        text = str(outcome)
        for secret in (APPKEY, SECRETKEY, *tokens_issued):
            if secret and secret in text:
                bad.append(f"a key or token in the exception text: {text[:200]!r}")
    sent = [a for api, a in sc.seen if api in ORDER_APIS]
    if sent:
        bad += _order_rules(sent, outcome)
    return bad


def _typed(call: str, outcome: object) -> list[str]:
    if isinstance(outcome, BaseException):
        return []
    want: type[Any] = {
        "place": types.PlaceAck,
        "modify": types.ModifyAck,
        "cancel": types.CancelAck,
        "quote": types.Quote,
        "open_orders": list,
        "fills": list,
    }[call]
    if not isinstance(outcome, want):
        return [f"{call} returned {type(outcome).__name__}, not {want.__name__}"]
    item = {"open_orders": types.OpenOrder, "fills": types.Fill}.get(call)
    if item and not all(isinstance(x, item) for x in outcome):
        return [f"{call} returned items that are not {item.__name__}"]
    acks = types.PlaceAck | types.ModifyAck | types.CancelAck
    if isinstance(outcome, acks) and (not isinstance(outcome.ord_no, str) or not outcome.ord_no):
        return [f"{call} acked without an order number: {outcome!r}"]
    return []


def _order_rules(sent: list[Answer], outcome: object) -> list[str]:
    bad = []
    token_resends = 0
    for i, answer in enumerate(sent[:-1]):
        why = proves_not_executed(answer)
        if why is None:
            bad.append(f"order POST resent after {answer!r} (answer {i + 1} of {len(sent)})")
        token_resends += why == "token"
    if token_resends > 1:
        bad.append(f"order POST resent {token_resends} times after a refused token")
    if len(sent) > 1 + 4 + 2 + 1:  # rate, connect and token budgets of RetryPolicy()
        bad.append(f"order POST sent {len(sent)} times")
    if ambiguous(sent[-1]) and not isinstance(outcome, e.UnknownOutcome):
        bad.append(f"after {sent[-1]!r} the outcome is {outcome!r}, not UnknownOutcome")
    return bad
