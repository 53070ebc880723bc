"""Scripted Kiwoom answers behind an httpx.MockTransport: a fake of the broker, not of
our code. Each api-id answers from its script in turn (the last answer repeats); a
script entry is an httpx.Response, a dict (HTTP 200 JSON), or an exception to raise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from planrunner.clock import Clock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.kiwoom.ratelimit import RateLimits

Answer = httpx.Response | dict[str, Any] | Exception | Callable[["Sent"], Any]

APPKEY = "APPKEY-sekrit-0123456789"
SECRETKEY = "SECRETKEY-sekrit-9876543210"
OK = {"return_code": 0, "return_msg": "정상적으로 처리되었습니다"}


class Sleeps(list[float]):
    """An injected sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass(frozen=True)
class Sent:
    api_id: str
    path: str
    headers: httpx.Headers
    body: dict[str, Any]


def token_answer(token: str = "TOKEN-1", expires_dt: str = "20991231235959") -> dict[str, Any]:
    return {"token": token, "token_type": "bearer", "expires_dt": expires_dt, **OK}


def official_error(return_code: int, code: str, message: str) -> dict[str, Any]:
    return {"return_code": return_code, "return_msg": f"[{code}:{message}]"}


class FakeKiwoom:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.scripts: dict[str, list[Answer]] = {"au10001": [token_answer()], "au10002": [OK]}
        self._lock = threading.Lock()
        self._tokens = 0

    def script(self, api_id: str, *answers: Answer) -> FakeKiwoom:
        self.scripts[api_id] = list(answers)
        return self

    def issue_fresh_tokens(self, expires_dt: str = "20991231235959") -> None:
        """Every au10001 issues a new token value: TOKEN-1, TOKEN-2…"""

        def issue(_: Sent) -> dict[str, Any]:
            with self._lock:
                self._tokens += 1
                return token_answer(f"TOKEN-{self._tokens}", expires_dt)

        self.scripts["au10001"] = [issue]

    def calls(self, api_id: str) -> list[Sent]:
        return [s for s in self.sent if s.api_id == api_id]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        api_id = request.headers.get("api-id", "")
        sent = Sent(api_id=api_id, path=request.url.path, headers=request.headers, body=body)
        with self._lock:
            self.sent.append(sent)
            script = self.scripts.get(api_id, [OK])
            answer = script.pop(0) if len(script) > 1 else script[0]
        if callable(answer) and not isinstance(answer, httpx.Response):
            answer = answer(sent)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer, headers={"api-id": api_id})


def fake_client(broker: FakeKiwoom, clock: Clock, **kw: Any) -> KiwoomClient:
    """The real client on the scripted broker: mock env, no rate limit (the limiter has its
    own tests), no real sleeps. `kw` overrides any argument."""
    args: dict[str, Any] = {
        "appkey": APPKEY,
        "secretkey": SECRETKEY,
        "env": "mock",
        "base_url": "http://broker.test",
        "rate_limits": RateLimits(),
        "sleep": lambda _s: None,
    }
    return KiwoomClient(transport=broker.transport(), clock=clock, **(args | kw))
