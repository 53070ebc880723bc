"""The request log: every Kiwoom request the simulator answered (or dropped), in order.

Tests and benchmarks read it as the truth about what a client sent. Secrets (app key,
secret key, token) never enter it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SECRET_FIELDS = frozenset({"appkey", "secretkey", "token"})


def without_secrets(body: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS else v) for k, v in body.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    seq: int
    at: dt.datetime  # the simulator's clock (virtual time under a VirtualClock)
    # Real (Unix) time the request arrived: over loopback on Linux, the kernel's receive
    # time of its first bytes, before any queueing in the simulator.
    received: float | None = None
    path: str
    api_id: str
    body: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    return_code: int | None = None
    return_msg: str = ""
    ord_no: str | None = None  # the number this request created
    committed: bool = False  # it changed the broker's state (order book or tokens)
    fault: str | None = None  # the injected fault that shaped the answer
    dropped: bool = False  # the connection was closed without an answer

    @property
    def code(self) -> int | None:
        """The `[code:...]` of the answer, if any."""
        if self.return_msg.startswith("[") and ":" in self.return_msg:
            head = self.return_msg[1 : self.return_msg.index(":")]
            return int(head) if head.isdigit() else None
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "received": self.received,
            "path": self.path,
            "api_id": self.api_id,
            "body": self.body,
            "status": self.status,
            "return_code": self.return_code,
            "return_msg": self.return_msg,
            "ord_no": self.ord_no,
            "committed": self.committed,
            "fault": self.fault,
            "dropped": self.dropped,
        }
