"""Fault injection: rules that make the simulator misbehave the way Kiwoom can.

Spec syntax (CLI `--fault`, `POST /_sim/faults`, `Faults.add`): `KIND[:key=value,...]`

    rate_limit      answer 429 (or status=200) with return_code 5 [1700:...]; not executed
    token_expiry    invalidate every token issued so far, then answer the call 8005
    5xx             answer HTTP 500 (status=502/503...) with [1999:...]; commit=yes runs it first
    1999            answer HTTP 200 return_code 1 [1999:...]; commit=yes runs it first
    latency         sleep ms=N before handling
    drop            run the request, then close the connection without an answer

  On the WebSocket (api= is the pushed type, 0B or 00; each fires on a push):
    ws_drop         close the WebSocket's TCP connection without a close frame
    ws_stall        stop sending anything (pushes, acks, PINGs) for ms=N (0: for good)
    ws_malformed    send a text frame that is not JSON first (raw=yes: bytes that are not
                    a WebSocket frame at all, which breaks the connection)
    ws_late         hold a 00 event until after the next 00 (out of order), or ms=N
                    (default 300) at most
    ws_repeat       send a 00 event twice (a broker that repeats an event, e.g. on resend)

    keys: api=kt10000 (default: every api-id) · count=N (default 1; latency: unlimited;
          with p<1: unlimited) · after=N (let N matching calls through first) ·
          p=0.2 (probability per matching call, seeded) · status=N · commit=yes|no · ms=N

Examples: `rate_limit:api=kt10000,count=3`, `token_expiry:after=10`, `5xx:commit=yes`,
`1999:p=0.1`, `latency:ms=50`, `drop:api=kt10000`, `ws_drop:api=0B,after=3`,
`ws_stall`, `ws_malformed:count=2`, `ws_late:api=00`, `ws_repeat:api=00`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from planrunner.errors import UsageError

Kind = Literal[
    "rate_limit",
    "token_expiry",
    "error",
    "latency",
    "drop",
    "ws_drop",
    "ws_stall",
    "ws_malformed",
    "ws_late",
    "ws_repeat",
]
_ALIASES: dict[str, Kind] = {
    "rate_limit": "rate_limit",
    "429": "rate_limit",
    "1700": "rate_limit",
    "token_expiry": "token_expiry",
    "5xx": "error",
    "error": "error",
    "1999": "error",
    "latency": "latency",
    "drop": "drop",
    "ws_drop": "ws_drop",
    "ws_stall": "ws_stall",
    "ws_malformed": "ws_malformed",
    "ws_late": "ws_late",
    "ws_repeat": "ws_repeat",
}


class FaultSpecError(UsageError):
    pass


@dataclass(slots=True, kw_only=True)
class Rule:
    kind: Kind
    api_id: str | None = None  # None: every api-id
    count: int | None = 1  # fires at most this often; None: unlimited
    after: int = 0  # matching calls let through before it may fire
    probability: float = 1.0
    status: int = 0  # 0: the kind's default (429 for rate_limit, 500 for error)
    commit: bool = False  # error: run the request before answering the error
    ms: int = 0  # latency, ws_stall, ws_late
    raw: bool = False  # ws_malformed: bytes that are not a WebSocket frame
    seen: int = 0
    fired: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "api_id": self.api_id,
            "count": self.count,
            "after": self.after,
            "probability": self.probability,
            "status": self.status,
            "commit": self.commit,
            "ms": self.ms,
            "raw": self.raw,
            "seen": self.seen,
            "fired": self.fired,
        }


def _bool(text: str) -> bool:
    if text.lower() in ("yes", "true", "1", "on"):
        return True
    if text.lower() in ("no", "false", "0", "off"):
        return False
    raise FaultSpecError(f"expected yes or no, got {text!r}")


def parse_fault(spec: str) -> Rule:
    name, _, rest = spec.strip().partition(":")
    kind = _ALIASES.get(name.strip().lower())
    if kind is None:
        known = (
            "rate_limit, token_expiry, 5xx, 1999, latency, drop, ws_drop, ws_stall, "
            "ws_malformed, ws_late, ws_repeat"
        )
        raise FaultSpecError(f"unknown fault {name!r} in {spec!r}: use one of {known}")
    opts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise FaultSpecError(f"fault {spec!r}: expected key=value, got {part!r}")
        opts[key.strip().lower()] = value.strip()
    rule = Rule(kind=kind, status=200 if name.strip() == "1999" else 0)
    if kind == "latency":
        rule.count = None
    if kind == "ws_late":
        rule.ms = 300
    try:
        for key, value in opts.items():
            if key == "api":
                rule.api_id = value or None
            elif key == "count":
                rule.count = None if value in ("", "inf", "all") else int(value)
            elif key == "after":
                rule.after = int(value)
            elif key == "p":
                rule.probability = float(value)
                if "count" not in opts:
                    rule.count = None
            elif key == "status":
                rule.status = int(value)
            elif key == "commit":
                rule.commit = _bool(value)
            elif key == "ms":
                rule.ms = int(value)
            elif key == "raw":
                rule.raw = _bool(value)
            else:
                raise FaultSpecError(f"fault {spec!r}: unknown key {key!r}")
    except ValueError as e:
        raise FaultSpecError(f"fault {spec!r}: {e}") from None
    if not 0.0 <= rule.probability <= 1.0:
        raise FaultSpecError(f"fault {spec!r}: p must be between 0 and 1")
    return rule


class Faults:
    """The active rules. Seeded, so a run with the same calls misbehaves the same way."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[Rule] = []
        self._rng = random.Random(seed)

    def add(self, rule: str | Rule) -> Rule:
        r = parse_fault(rule) if isinstance(rule, str) else rule
        self.rules.append(r)
        return r

    def clear(self) -> None:
        self.rules.clear()

    # Python conveniences, one per kind.
    def rate_limit(
        self, api_id: str | None = None, count: int | None = 1, *, status: int = 429
    ) -> Rule:
        return self.add(Rule(kind="rate_limit", api_id=api_id, count=count, status=status))

    def token_expiry(self, after: int = 0) -> Rule:
        return self.add(Rule(kind="token_expiry", after=after))

    def error(
        self, api_id: str | None = None, *, status: int = 500, commit: bool = False, count: int = 1
    ) -> Rule:
        """status 200 answers return_code 1 `[1999:...]` at HTTP 200; 5xx answers HTTP 5xx."""
        return self.add(
            Rule(kind="error", api_id=api_id, status=status, commit=commit, count=count)
        )

    def latency(self, ms: int, api_id: str | None = None) -> Rule:
        return self.add(Rule(kind="latency", api_id=api_id, ms=ms, count=None))

    def drop(self, api_id: str | None = None, count: int | None = 1) -> Rule:
        return self.add(Rule(kind="drop", api_id=api_id, count=count))

    def take(self, kind: Kind, api_id: str) -> Rule | None:
        """The first rule of this kind that fires on this call, counting the call."""
        hit: Rule | None = None
        for r in self.rules:
            if r.kind != kind or (r.api_id is not None and r.api_id != api_id):
                continue
            r.seen += 1
            if hit is not None or r.seen <= r.after:
                continue
            if r.count is not None and r.fired >= r.count:
                continue
            if r.probability < 1.0 and self._rng.random() >= r.probability:
                continue
            r.fired += 1
            hit = r
        return hit

    def delay_ms(self, api_id: str) -> int:
        r = self.take("latency", api_id)
        return r.ms if r is not None else 0
