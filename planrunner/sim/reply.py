"""What the HTTP surface hands to a transport or a socket: status, headers, bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON = "application/json;charset=UTF-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False  # close the connection without answering


def json_reply(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(status=status, body=body, headers=(("content-type", JSON), *headers))
