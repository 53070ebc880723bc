"""Helpers for the simulator tests (a unique module name: conftest.py is not importable
reliably when several test folders each have one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from planrunner.clock import SEOUL, Clock
from planrunner.kiwoom.client import KiwoomClient
from planrunner.sim import Simulator

# A Thursday, a KRX trading day, in the middle of the regular session.
DAY = dt.date(2026, 11, 26)
PATHS = {
    "au10001": "/oauth2/token",
    "au10002": "/oauth2/revoke",
    "kt10000": "/api/dostk/ordr",
    "kt10001": "/api/dostk/ordr",
    "kt10002": "/api/dostk/ordr",
    "kt10003": "/api/dostk/ordr",
    "ka10075": "/api/dostk/acnt",
    "ka10076": "/api/dostk/acnt",
    "ka10001": "/api/dostk/stkinfo",
}


STILL = """
symbols:
  "005930": {name: 삼성전자, base: 70000, walk: false}
"""


def sim_client(sim: Simulator, clock: Clock, **kw: Any) -> KiwoomClient:
    """The real client on `sim`'s in-process transport; a retry never sleeps for real.
    `kw` overrides any argument (env, keys, rate limits)."""
    args: dict[str, Any] = {
        "appkey": "appkey-1",
        "secretkey": "secret-1",
        "env": "sim",
        "sleep": lambda _s: None,
    }
    return KiwoomClient(transport=sim.transport(), clock=clock, **(args | kw))


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 26, hh, mm, ss, tzinfo=SEOUL)


class Raw:
    """Raw Kiwoom requests over an httpx client: exactly the bytes a test chooses."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.token = ""

    def login(self, appkey: str = "appkey-1", secretkey: str = "secret-1") -> dict[str, Any]:
        body = {"grant_type": "client_credentials", "appkey": appkey, "secretkey": secretkey}
        data: dict[str, Any] = self.http.post("/oauth2/token", json=body).json()
        self.token = data.get("token", "")
        return data

    def post(
        self,
        api_id: str,
        body: Any,
        *,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        h = {"api-id": api_id, "authorization": f"Bearer {token or self.token}"}
        h.update(headers or {})
        return self.http.post(path or PATHS[api_id], json=body, headers=h)

    def call(self, api_id: str, body: Any, **kw: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.post(api_id, body, **kw).json()
        return data

    def buy(
        self, qty: int = 10, price: int | None = 70_000, trde_tp: str = "0", **extra: str
    ) -> dict[str, Any]:
        return self.call("kt10000", self._order(qty, price, trde_tp) | extra)

    def sell(self, qty: int = 10, price: int | None = 70_000, trde_tp: str = "0") -> dict[str, Any]:
        return self.call("kt10001", self._order(qty, price, trde_tp))

    @staticmethod
    def _order(qty: int, price: int | None, trde_tp: str) -> dict[str, str]:
        return {
            "dmst_stex_tp": "KRX",
            "stk_cd": "005930",
            "ord_qty": str(qty),
            "ord_uv": "" if price is None else str(price),
            "trde_tp": trde_tp,
            "cond_uv": "",
        }

    def modify(self, orig: str, qty: str = "0", price: str = "70100") -> dict[str, Any]:
        body = {
            "dmst_stex_tp": "KRX",
            "orig_ord_no": orig,
            "stk_cd": "005930",
            "mdfy_qty": qty,
            "mdfy_uv": price,
            "mdfy_cond_uv": "",
        }
        return self.call("kt10002", body)

    def cancel(self, orig: str, qty: str = "0") -> dict[str, Any]:
        body = {"dmst_stex_tp": "KRX", "orig_ord_no": orig, "stk_cd": "005930", "cncl_qty": qty}
        return self.call("kt10003", body)


def msg_code(data: dict[str, Any]) -> int:
    """The [code:...] inside return_msg."""
    text = str(data["return_msg"])
    return int(text[text.index("[") + 1 : text.index(":")])
