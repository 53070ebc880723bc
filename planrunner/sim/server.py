"""The loopback server: HTTP/1.1 keep-alive on 127.0.0.1, one thread per connection.

Each answer goes out in one write with TCP_NODELAY, so a keep-alive round trip is not
held up by Nagle and delayed ACKs. A "drop" fault closes the socket without a byte.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


_PHRASES = {s.value: s.phrase for s in HTTPStatus}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
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

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the simulator keeps its own log

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        reply = self.server.sim.handle(self.command, path, headers, raw)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        phrase = _PHRASES.get(reply.status, "")
        head = [f"HTTP/1.1 {reply.status} {phrase}"]
        head += [f"{k}: {v}" for k, v in reply.headers]
        head.append(f"content-length: {len(reply.body)}")
        if self.close_connection:
            head.append("connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)

    do_POST = _serve
    do_GET = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
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
