"""Order requests on connections of their own, made ready before the order's instant.

At an order's instant only the send should be left. Through httpx a request still goes
through the transport's mapping and httpcore's pool, which polls every pooled connection
under one lock: 0.15-0.7 ms of Python per request, paid one after another by jobs that
share an instant (docs/performance.md, Firing). Here the request is serialized by h11 and
a connection is checked out (opened if need be) before the runner's wait; at the instant
the send is one `sendall`.

Failures are raised as httpx's exceptions, so the client's rules hold on either path:
failing to connect (ConnectError, ConnectTimeout) means the request was not sent;
anything after the first byte (WriteError, ReadTimeout, RemoteProtocolError...) may have
reached the broker.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable

import h11
import httpx

# An idle connection is reused only if it has been idle less than this: it will be written
# to up to a second later (the runner's wait), and servers commonly close idle ones at 5 s.
KEEPALIVE_SECONDS = 3.5
MAX_IDLE = 8
PREWARM_UP_TO = 4  # prewarm opens a connection only while fewer idle ones are fresh
_FRESH = 1.0  # seconds: an idle connection is "fresh" if still reusable this much later
_READ = 65536


class _Conn:
    __slots__ = ("h11", "idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        """Idle, recent and still open."""
        if self.h11.our_state is not h11.IDLE:
            return False
        if time.monotonic() - self.idle_since > KEEPALIVE_SECONDS:
            return False
        return self.open()

    def open(self) -> bool:
        """Whether the server still holds it: one that closed it makes it readable (EOF)."""
        try:
            self.sock.setblocking(False)
            try:
                self.sock.recv(1)
            finally:
                self.sock.setblocking(True)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True  # nothing to read: still open
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _serialize(conn: _Conn, events: tuple[h11.Event, ...]) -> bytes:
    return b"".join(conn.h11.send(event) or b"" for event in events)


class Prepared:
    """One request, serialized, on a connection of its own: `send` it at the instant (or
    let a salvo `offer` it first), or `abandon` it if it will not be sent."""

    def __init__(
        self,
        channel: Channel,
        conn: _Conn,
        events: tuple[h11.Event, ...],
        timeout: dict[str, float | None],
        admit: Callable[[], bool] | None = None,
    ):
        self._channel = channel
        self._conn = conn
        self._events = events
        self._data = _serialize(conn, events)
        self._timeout = timeout
        self._admit = admit
        self._lock = threading.Lock()
        self.written = False  # on the wire (or failed trying): only the answer is left
        self._failure: BaseException | None = None

    def offer(self) -> bool:
        """Write the request now if the rate limit admits it without a wait (a salvo's
        leader writes every ready request of an instant); False leaves it to `send`."""
        with self._lock:
            if self.written or not self._conn.open():
                return False  # a reconnect is not the leader's to make: its own thread's
            if self._admit is not None and not self._admit():
                return False
            try:
                self._write()
            except BaseException as exc:  # raised to the request's own thread by send()
                self._failure = exc
            self.written = True
            return True

    def send(self) -> httpx.Response:
        with self._lock:
            if not self.written:
                self.written = True
                self._write()
            if self._failure is not None:
                raise self._failure
        try:
            response = self._receive(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._channel.release(self._conn)
        return response

    def abandon(self) -> None:
        self._conn.close()

    def _write(self) -> None:
        if not self._conn.open():
            # The server closed it while the runner waited: nothing was sent on it, so
            # the request goes out on a new connection (a connect at the instant, rare).
            self._conn.close()
            self._conn = self._channel.open(self._timeout["connect"])
            try:
                self._data = _serialize(self._conn, self._events)
            except BaseException:
                self._conn.close()
                raise
        try:
            self._conn.sock.settimeout(self._timeout["write"])
            self._conn.sock.sendall(self._data)
        except TimeoutError as exc:
            self._conn.close()
            raise httpx.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            self._conn.close()
            raise httpx.WriteError(str(exc)) from exc

    def _receive(self, conn: _Conn) -> httpx.Response:
        conn.sock.settimeout(self._timeout["read"])
        status, headers, body = 0, [], bytearray()
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc) or "invalid answer") from exc
            if event is h11.NEED_DATA:
                try:
                    data = conn.sock.recv(_READ)
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(str(exc)) from exc
                except OSError as exc:
                    raise httpx.ReadError(str(exc)) from exc
                if not data and conn.h11.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError("Server disconnected without an answer.")
                conn.h11.receive_data(data)  # b"": h11 raises if the answer is cut short
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return httpx.Response(status, headers=headers, content=bytes(body))
            # InformationalResponse (1xx): keep reading


class Channel:
    """Connections to one origin for order requests; thread-safe."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = url.scheme == "https"
        # Built once: creating a default context reads the CA store (tens of ms).
        self._ssl = ssl_context or (httpx.create_ssl_context() if self._tls else None)
        self._authority = url.netloc.decode("ascii")
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()
        self._closed = False

    def prepare(
        self,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes,
        timeout: dict[str, float | None],
        admit: Callable[[], bool] | None = None,
    ) -> Prepared:
        fields = [("Host", self._authority), *headers.items()]
        fields.append(("Content-Length", str(len(content))))
        try:
            request = h11.Request(method="POST", target=url.raw_path, headers=fields)
        except h11.LocalProtocolError:  # its text quotes the header: a token, maybe
            raise httpx.LocalProtocolError("a header value cannot be sent (illegal)") from None
        events = (request, h11.Data(data=content), h11.EndOfMessage())
        conn = self._checkout(timeout)
        try:
            return Prepared(self, conn, events, timeout, admit)
        except BaseException:
            conn.close()
            raise

    def release(self, conn: _Conn) -> None:
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            conn.idle_since = now = time.monotonic()
            with self._lock:
                stale = [c for c in self._idle if now - c.idle_since > KEEPALIVE_SECONDS]
                self._idle = [c for c in self._idle if c not in stale]
                kept = not self._closed and len(self._idle) < MAX_IDLE
                if kept:
                    self._idle.append(conn)
            for c in stale:
                c.close()
            if kept:
                return
        conn.close()

    def prewarm(self, connect_timeout: float | None) -> None:
        """Open one more connection and keep it idle, so an order prepared within the next
        few seconds finds it open (TCP and TLS handshakes done). Failures are left for
        that order to meet and report."""
        now = time.monotonic()
        with self._lock:
            fresh = sum(1 for c in self._idle if now - c.idle_since < KEEPALIVE_SECONDS - _FRESH)
        if fresh >= PREWARM_UP_TO:
            return
        try:
            conn = self.open(connect_timeout)
        except httpx.TransportError:
            return
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _checkout(self, timeout: dict[str, float | None]) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self.open(timeout["connect"])
            if conn.reusable():
                return conn
            conn.close()

    def open(self, connect_timeout: float | None) -> _Conn:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=connect_timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl is not None:
            try:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._host)
            except TimeoutError as exc:
                sock.close()
                raise httpx.ConnectTimeout(str(exc)) from exc
            except OSError as exc:  # ssl.SSLError included: nothing was sent
                sock.close()
                raise httpx.ConnectError(str(exc)) from exc
        return _Conn(sock)
