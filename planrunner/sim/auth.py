"""App keys and tokens. Any key pair is accepted as the simulator's own environment
unless a test registered it (or a token) for the other one, to provoke 8030/8031.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Literal

from planrunner.clock import SEOUL
from planrunner.sim.protocol import SimError, auth_error, token_invalid

Env = Literal["mock", "live"]
TOKEN_LIFETIME = dt.timedelta(hours=24)
_ENV_NAMES = {"mock": "모의투자", "live": "실전투자"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    token: str
    appkey: str
    env: Env
    expires: dt.datetime

    @property
    def expires_dt(self) -> str:
        return self.expires.astimezone(SEOUL).strftime("%Y%m%d%H%M%S")


class Auth:
    def __init__(self, env: Env = "mock") -> None:
        self.env: Env = env
        self._keys: dict[str, tuple[str, Env]] = {}  # appkey -> (secretkey, env)
        self._tokens: dict[str, Token] = {}
        self.issued = 0

    def register_key(self, appkey: str, secretkey: str, env: Env) -> None:
        self._keys[appkey] = (secretkey, env)

    def register_token(self, token: str, env: Env, expires: dt.datetime) -> None:
        """A token known to belong to `env` (e.g. a live token shown to a mock server)."""
        self._tokens[token] = Token(token=token, appkey="", env=env, expires=expires)

    def _check_key(self, appkey: str, secretkey: str) -> None:
        known = self._keys.get(appkey)
        if known is None:
            return
        secret, env = known
        if env != self.env:
            raise auth_error(
                8030,
                f"투자구분(실전/모의)이 달라서 Appkey를 사용할 수 없습니다"
                f"({_ENV_NAMES[env]} Appkey)",
            )
        if secret != secretkey:
            raise auth_error(8002, "Secret Key 검증에 실패했습니다")

    def issue(self, appkey: str, secretkey: str, now: dt.datetime) -> Token:
        self._check_key(appkey, secretkey)
        token = Token(
            token=secrets.token_urlsafe(48),
            appkey=appkey,
            env=self.env,
            expires=now + TOKEN_LIFETIME,
        )
        self._tokens[token.token] = token
        self.issued += 1
        return token

    def revoke(self, appkey: str, secretkey: str, token: str) -> None:
        self._check_key(appkey, secretkey)
        if self._tokens.pop(token, None) is None:
            raise token_invalid()

    def check(self, authorization: str | None, now: dt.datetime) -> Token:
        """The token of a `Bearer <token>` header, or the Kiwoom-style refusal."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise token_invalid()
        token = self._tokens.get(value.strip())
        if token is None or token.expires <= now:
            raise token_invalid()
        if token.env != self.env:
            raise auth_error(
                8031,
                f"투자구분(실전/모의)이 달라서 Token을 사용할 수 없습니다"
                f"({_ENV_NAMES[token.env]} Token)",
            )
        return token

    def invalidate_all(self) -> int:
        """Expire every token issued so far (fault injection); returns how many."""
        mine = [t for t, v in self._tokens.items() if v.env == self.env]
        for t in mine:
            del self._tokens[t]
        return len(mine)


__all__ = ["Auth", "Env", "SimError", "Token"]
