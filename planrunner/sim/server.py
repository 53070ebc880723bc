"""The loopback server: HTTP/1.1 keep-alive on 127.0.0.1, one thread per connection.

Each answer goes out in one write with TCP_NODELAY, so a keep-alive round trip is not
held up by Nagle and delayed ACKs. A "drop" fault closes the socket without a byte.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_MAX_LINE = 65536


class _Handler(socketserver.StreamRequestHandler):
    """A small HTTP/1.1 keep-alive loop: http.server's header parsing (email.parser) cost
    more per request than the simulator itself."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        line = self.rfile.readline(_MAX_LINE)
        while line in (b"\r\n", b"\n"):
            line = self.rfile.readline(_MAX_LINE)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._write(400, (), b"", keep=False)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        while (h := self.rfile.readline(_MAX_LINE)) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._write(411, (), b"", keep=False)  # every Kiwoom client sends a length
            return False
        length = int(headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.sim.handle(method, target.split("?", 1)[0], headers, raw)
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

    def __init__(self, sim: Simulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server(sim, (host, port))
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
