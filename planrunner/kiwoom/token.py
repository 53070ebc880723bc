"""The access token (au10001): kept in memory, cached on disk, refreshed single-flight.

A cache file holds one token per environment, base URL and app key. Its name carries a
hash of those, never the key itself: `<dir>/<env>-<sha256(base_url, appkey)[:16]>.json`,
mode 0600, written atomically (temp file + fsync + rename) so a crash never leaves half
a token. Tokens and keys never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from planrunner.clock import SEOUL, Clock
from planrunner.redact import register

log = logging.getLogger(__name__)

EXPIRES_FORMAT = "%Y%m%d%H%M%S"  # expires_dt, Korea time
# A token goes into an `authorization` header: visible ASCII, no space, nothing else.
HEADER_SAFE = re.compile(r"[!-~]+")


def header_safe(token: object) -> bool:
    return isinstance(token, str) and HEADER_SAFE.fullmatch(token) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    value: str = field(repr=False)
    expires: dt.datetime  # aware, Asia/Seoul

    @classmethod
    def from_wire(cls, token: str, expires_dt: str) -> Token:
        register(token)
        if not header_safe(token):
            raise ValueError("token")
        expires = dt.datetime.strptime(expires_dt, EXPIRES_FORMAT).replace(tzinfo=SEOUL)
        return cls(value=token, expires=expires)

    def expires_dt(self) -> str:
        return self.expires.astimezone(SEOUL).strftime(EXPIRES_FORMAT)


def cache_file(directory: Path, *, env: str, base_url: str, appkey: str) -> Path:
    digest = hashlib.sha256(f"{base_url}\0{appkey}".encode()).hexdigest()[:16]
    return directory / f"{env}-{digest}.json"


class TokenFile:
    """One cache file. Unreadable or stale content is ignored, never fatal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def load(self) -> Token | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Token.from_wire(str(data["token"]), str(data["expires_dt"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, token: Token) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        text = json.dumps({"token": token.value, "expires_dt": token.expires_dt()})
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class TokenKeeper:
    """Hands out a valid token; issues a new one when it nears expiry or was refused.

    One lock makes refreshing single-flight: threads that saw the same token refused
    wait for one refresh and then share its result.
    """

    def __init__(
        self,
        issue: Callable[[], Token],
        *,
        clock: Clock,
        margin: dt.timedelta = dt.timedelta(minutes=10),
        file: TokenFile | None = None,
    ) -> None:
        self._issue = issue
        self._clock = clock
        self._margin = margin
        self._file = file
        self._token: Token | None = None
        self._loaded = False
        self._lock = threading.Lock()
        self.issued = 0  # how many tokens this keeper asked the broker for

    def __repr__(self) -> str:
        return f"TokenKeeper(file={self._file!r}, issued={self.issued})"

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and self._clock.now() < token.expires - self._margin

    def get(self) -> Token:
        with self._lock:
            if not self._loaded and self._file is not None:
                self._token = self._file.load()
            self._loaded = True
            if self._token is None or not self._fresh(self._token):
                self._renew("expires soon" if self._token else "none held")
            assert self._token is not None
            return self._token

    def refused(self, stale: Token) -> Token:
        """The broker refused `stale`: renew it, unless another thread already did."""
        with self._lock:
            if self._token is None or self._token.value == stale.value:
                self._renew("refused by the broker")
            assert self._token is not None
            return self._token

    def held_value(self) -> str:
        """The held token's text, for scrubbing it out of broker messages; "" if none."""
        token = self._token
        return token.value if token is not None else ""

    def forget(self) -> Token | None:
        """Drop the held and cached token (after a revoke); returns what was held."""
        with self._lock:
            held, self._token, self._loaded = self._token, None, True
            if self._file is not None:
                held = held or self._file.load()
                self._file.delete()
            return held

    def _renew(self, why: str) -> None:
        self._token = self._issue()
        self.issued += 1
        log.info("token issued (%s); expires %s", why, self._token.expires.isoformat())
        if self._file is not None:
            try:
                self._file.save(self._token)
            except OSError as exc:
                log.warning("token cache %s not written: %s", self._file.path, exc)
