"""The loopback server: HTTP/1.1 keep-alive on 127.0.0.1, one thread per connection, and
Kiwoom's WebSocket on the same port (a GET upgrade of /api/dostk/websocket, websocket.py).
While a WebSocket session has registered prices or its orders' events (`00`), a ticker
plays the market forward every `tick` seconds (real time) so that every price change and
every fill it causes is pushed as it happens.

Each answer goes out in one write with TCP_NODELAY, so a keep-alive round trip is not
held up by Nagle and delayed ACKs. A "drop" fault closes the socket without a byte.
Each request is logged with the time it arrived: on Linux the kernel's receive time of
its first bytes (SO_TIMESTAMPNS), so a client's lateness is measured without the
simulator's own queueing; elsewhere (and over TLS) the time they were read.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING

from planrunner.sim import websocket

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_MAX_LINE = 65536
_CHUNK = 65536
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_ANCILLARY = socket.CMSG_SPACE(16)


class _Reader:
    """Buffered reads through recvmsg, keeping when the newest chunk arrived."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._stamps = False
        if _SO_TIMESTAMPNS is not None and not isinstance(sock, ssl.SSLSocket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._stamps = True
        self.arrived = 0.0

    def next_request(self) -> float | None:
        """Wait for a request's first bytes; when they arrived (Unix time), None at EOF."""
        if not self._buf and not self._fill():
            return None
        return self.arrived

    def readline(self, limit: int) -> bytes:
        while True:
            end = self._buf.find(b"\n", 0, limit)
            if end >= 0 or len(self._buf) >= limit or not self._fill():
                n = end + 1 if end >= 0 else min(limit, len(self._buf))
                line = bytes(self._buf[:n])
                del self._buf[:n]
                return line

    def read(self, n: int) -> bytes:
        while len(self._buf) < n and self._fill():
            pass
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def take_buffered(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _fill(self) -> bool:
        if not self._stamps:
            data = self._sock.recv(_CHUNK)
            self.arrived = time.time()
        else:
            data, ancillary, _flags, _addr = self._sock.recvmsg(_CHUNK, _ANCILLARY)
            self.arrived = time.time()
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    self.arrived = sec + nsec / 1e9
        self._buf += data
        return bool(data)


class _Handler(socketserver.StreamRequestHandler):
    """A small HTTP/1.1 keep-alive loop: http.server's header parsing (email.parser) cost
    more per request than the simulator itself."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = _Reader(self.connection)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):
            while self._one():
                pass

    def _one(self) -> bool:
        received = self.reader.next_request()
        if received is None:
            return False
        line = self.reader.readline(_MAX_LINE)
        while line in (b"\r\n", b"\n"):
            line = self.reader.readline(_MAX_LINE)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._write(400, (), b"", keep=False)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        while (h := self.reader.readline(_MAX_LINE)) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._write(411, (), b"", keep=False)  # every Kiwoom client sends a length
            return False
        if websocket.is_upgrade(method, target.split("?", 1)[0], headers):
            leftover = self.reader.take_buffered()
            websocket.serve(self.server.sim, self.connection, target, headers, leftover)
            return False
        length = int(headers.get("content-length") or 0)
        raw = self.reader.read(length) if length else b""
        path = target.split("?", 1)[0]
        reply = self.server.sim.handle(method, path, headers, raw, received=received)
        if reply.drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        self._write(reply.status, reply.headers, reply.body, keep=keep)
        return keep

    def _write(
        self, status: int, headers: tuple[tuple[str, str], ...], body: bytes, *, keep: bool
    ) -> None:
        head = [f"HTTP/1.1 {status} {_PHRASES.get(status, '')}"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"content-length: {len(body)}")
        if not keep:
            head.append("connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, sim: Simulator, address: tuple[str, int]) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class SimServer:
    """A running loopback server; `url` is the base URL for any Kiwoom client."""

    def __init__(
        self, sim: Simulator, *, host: str = "127.0.0.1", port: int = 0, tick: float = 0.02
    ) -> None:
        self._server = _Server(sim, (host, port))
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        self.ws_url = f"ws://{self.host}:{self.port}{websocket.PATH}"
        self._sim = sim
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True)
        self._ticker.start()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._sim.hub.wants_pushes():
                self._sim.advance()

    def close(self) -> None:
        self._stop.set()
        for session in self._sim.hub.sessions():
            if isinstance(session, websocket.Session):
                session.drop()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
