"""The Kiwoom HTTP surface, independent of how bytes arrive (httpx transport or socket).

Order of checks on a call: URL → api-id (1501/1504/1505) → token (8005/8031) → the
key's request budget when enforced (1700/1701, budget.py) → faults (rate limit, 5xx/1999
before or after committing, drop) → body (1517 for a non-string or malformed value, 1511
for a missing one) → the broker. Business failures answer HTTP 200
with a non-zero return_code, like Kiwoom.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from planrunner.sim import control, protocol
from planrunner.sim.faults import Rule
from planrunner.sim.handlers import HANDLERS, Answer, Call, choice, text
from planrunner.sim.log import LogEntry, without_secrets
from planrunner.sim.protocol import SimError, malformed
from planrunner.sim.reply import Reply, json_reply

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


def _error_body(e: SimError) -> dict[str, Any]:
    return {"return_code": e.return_code, "return_msg": e.return_msg}


def _api_id(path: str, headers: dict[str, str]) -> str:
    api_id = headers.get("api-id", "").strip()
    if not api_id:
        if path in protocol.TOKEN_ROUTES:
            return protocol.TOKEN_ROUTES[path]
        raise SimError(
            return_code=protocol.RC_INPUT, code=1501, message="API ID가 존재하지 않습니다"
        )
    if api_id not in protocol.KNOWN_API_IDS:
        raise SimError(
            return_code=protocol.RC_INPUT,
            code=1505,
            message=f"API ID({api_id})가 존재하지 않습니다",
        )
    if api_id not in protocol.ROUTES[path]:
        raise SimError(
            return_code=protocol.RC_INPUT,
            code=1504,
            message=f"해당 URI({path})에서는 지원하지 않는 API ID({api_id})입니다",
        )
    return api_id


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None


def check_body(data: object) -> dict[str, str]:
    """Kiwoom's strictness: a JSON object whose every value is a string."""
    if not isinstance(data, dict):
        raise malformed("body")
    for key, value in data.items():
        if not isinstance(value, str):
            raise malformed(key)
    return data


def handle(
    sim: Simulator,
    method: str,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    *,
    received: float | None = None,
) -> Reply:
    """Answer one request. `headers` have lower-case names."""
    received = time.time() if received is None else received
    if path.startswith("/_sim/"):
        return control.handle(sim, method, path, raw)
    if path not in protocol.ROUTES:
        return json_reply(404, {"return_code": 2, "return_msg": f"[1504:{path} 없음]"})
    if method != "POST":
        return json_reply(405, {"return_code": 2, "return_msg": "[1504:POST만 지원합니다]"})
    try:
        api_id = _api_id(path, headers)
    except SimError as e:
        return json_reply(e.status, _error_body(e))
    with sim.lock:
        delay = sim.faults.delay_ms(api_id)
    if delay:
        time.sleep(delay / 1000)
    with sim.lock:
        return _handle_locked(sim, path, api_id, headers, raw, received)


def _handle_locked(
    sim: Simulator, path: str, api_id: str, headers: dict[str, str], raw: bytes, received: float
) -> Reply:
    now = sim.clock.now()
    sim.broker.advance(now)
    entry: dict[str, Any] = {"path": path, "api_id": api_id, "at": now, "received": received}
    answer: Answer
    reply: Reply
    drop = False
    try:
        loose = _decode(raw)
        entry["body"] = without_secrets(loose) if isinstance(loose, dict) else {}
        if api_id in ("au10001", "au10002"):
            _fault_rate_limit(sim, api_id)
            if sim.budget is not None and isinstance(loose, dict):
                sim.budget.check(str(loose.get("appkey", "")), api_id)
            answer = _token_call(sim, api_id, check_body(loose), now)
        else:
            if sim.faults.take("token_expiry", api_id) is not None:
                sim.auth.invalidate_all()
                entry["fault"] = "token_expiry"
            token = sim.auth.check(headers.get("authorization"), now)
            if sim.budget is not None:  # the key's budget: per app key, or per token
                sim.budget.check(token.appkey or token.token, api_id)
            _fault_rate_limit(sim, api_id)
            error = sim.faults.take("error", api_id)
            drop = sim.faults.take("drop", api_id) is not None
            if error is not None and not error.commit:
                entry["fault"] = "error"
                raise _server_error(error)
            call = Call(
                api_id=api_id,
                body=check_body(loose),
                now=now,
                env=sim.auth.env,
                cont_yn=headers.get("cont-yn", "N"),
                next_key=headers.get("next-key", ""),
                page_size=sim.page_size,
            )
            answer = HANDLERS[api_id](sim.broker, call)
            if error is not None:
                entry.update(fault="error (after commit)", ord_no=answer.ord_no)
                entry["committed"] = answer.ord_no is not None
                raise _server_error(error)
        msg = answer.extra.get("return_msg", "정상적으로 처리되었습니다")
        reply = json_reply(
            200,
            answer.body | {"return_code": 0, "return_msg": msg},
            (("api-id", api_id), ("cont-yn", answer.cont_yn), ("next-key", answer.next_key)),
        )
        entry.update(
            return_code=0,
            return_msg=msg,
            ord_no=answer.ord_no,
            committed=answer.ord_no is not None or api_id in ("au10001", "au10002"),
        )
    except SimError as e:
        if e.code in (1700, 1701):
            entry["fault"] = "rate_limit"
        reply = json_reply(e.status, _error_body(e), (("api-id", api_id),))
        entry.update(return_code=e.return_code, return_msg=e.return_msg)
    if drop:
        entry["fault"] = "drop"
        reply = Reply(status=0, body=b"", drop=True)
    sim.log.append(LogEntry(seq=len(sim.log) + 1, status=reply.status, dropped=reply.drop, **entry))
    return reply


def _fault_rate_limit(sim: Simulator, api_id: str) -> None:
    rule = sim.faults.take("rate_limit", api_id)
    if rule is not None:
        raise SimError(
            return_code=protocol.RC_RATE,
            code=1700,
            message=f"허용된 요청 개수를 초과하였습니다. API ID={api_id}",
            status=rule.status or 429,
        )


def _server_error(rule: Rule) -> SimError:
    return SimError(
        return_code=protocol.RC_SERVER,
        code=1999,
        message="예기치 못한 에러가 발생했습니다",
        status=rule.status or 500,
    )


def _token_call(sim: Simulator, api_id: str, body: dict[str, str], now: Any) -> Answer:
    appkey, secretkey = text(body, "appkey"), text(body, "secretkey")
    if api_id == "au10002":
        sim.auth.revoke(appkey, secretkey, text(body, "token"))
        return Answer(body={})
    choice(body, "grant_type", ("client_credentials",))
    token = sim.auth.issue(appkey, secretkey, now)
    return Answer(
        body={"expires_dt": token.expires_dt, "token_type": "bearer", "token": token.token}
    )
