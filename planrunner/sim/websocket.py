"""Kiwoom's real-time WebSocket, served by the loopback server on the same port as the
REST API at /api/dostk/websocket (server.py hands the upgraded socket over).

Messages (JSON text frames), as Kiwoom's:

    client {"trnm": "LOGIN", "token": T}
        server {"trnm": "LOGIN", "return_code": 0, "return_msg": ""}
    client {"trnm": "REG", "grp_no": "1", "refresh": "1", "data": [{"item": [..], "type": [..]}]}
    client {"trnm": "REMOVE", ...the same shape...}
        server {"trnm": "REG" or "REMOVE", "return_code": 0, "return_msg": ""}
    server {"trnm": "PING"}: the client echoes it unchanged
    server {"trnm": "REAL", "data": [{"type", "name", "item", "values"}]} (push.py)

A LOGIN with an invalid token answers return_code 3 `[8005:...]` and closes the socket.
Anything but LOGIN before a successful LOGIN answers `[8005:...]` too. Refresh "0" in a
REG replaces the group's registrations; "1" adds to them.

One session is two threads: the connection's own (reads frames, answers) and a writer
(the only one that sends pushes, acks and PINGs), so the simulator never waits on a
client. Faults come from push.py: drop (TCP shutdown, no close frame), stall (the writer
stops for ms, 0: for good), malformed (a text frame that is not JSON, or raw bytes that
are not a frame), late (a 00 held until after the next 00, or ms at most).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from planrunner.sim.protocol import SimError

if TYPE_CHECKING:
    from planrunner.sim.faults import Rule
    from planrunner.sim.simulator import Simulator

PATH = "/api/dostk/websocket"
# websockets logs every frame at DEBUG, a LOGIN's token included: keep it above that.
_wire_log = logging.getLogger("planrunner.sim.websocket.frames")
_wire_log.setLevel(logging.WARNING)
_CHUNK = 65536
_NOT_LOGGED_IN = "[8005:Token이 유효하지 않습니다]"


def is_upgrade(method: str, path: str, headers: dict[str, str]) -> bool:
    return method == "GET" and path == PATH and headers.get("upgrade", "").lower() == "websocket"


class Session:
    def __init__(self, sim: Simulator, sock: socket.socket, proto: ServerProtocol) -> None:
        self.sim = sim
        self.sock = sock
        self.proto = proto
        self.logged_in = False
        self.groups: dict[str, dict[str, set[str]]] = {}  # grp_no -> type -> items
        self.echoes = 0  # PINGs the client echoed
        self._out: deque[tuple[str, bytes | str]] = deque()  # (kind, payload)
        self._held: list[tuple[float, str]] = []  # late 00 frames: (deadline, text)
        self._cond = threading.Condition()
        self._io = threading.Lock()  # the protocol object and the socket's sends
        self._stalled_until = 0.0  # monotonic; inf: for good
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, daemon=True, name="sim-ws-writer")

    # ---- the hub's side ----------------------------------------------------------------

    def wants(self, kind: str, item: str) -> bool:
        if not self.logged_in:
            return False
        for types in list(self.groups.values()):
            items = types.get(kind)
            if items is not None and (item in items or item == "*" or kind == "00"):
                return True
        return False

    def push(self, frame: dict[str, Any], *, kind: str, faults: list[Rule]) -> None:
        text = json.dumps(frame, ensure_ascii=False)
        late_ms = 0
        for rule in faults:
            if rule.kind == "ws_drop":
                self.drop()
                return
            if rule.kind == "ws_stall":
                with self._cond:
                    self._stalled_until = (
                        time.monotonic() + rule.ms / 1000 if rule.ms else float("inf")
                    )
            elif rule.kind == "ws_malformed":
                self._enqueue(
                    "raw" if rule.raw else "text",
                    b"\x8f\x05junk!" if rule.raw else '{"trnm": "REAL", "data": [',
                )
            elif rule.kind == "ws_late" and kind == "00":
                late_ms = rule.ms or 300
            elif rule.kind == "ws_repeat" and kind == "00":
                self._enqueue("00", text)  # the same event, once more
        if late_ms:
            with self._cond:
                self._held.append((time.monotonic() + late_ms / 1000, text))
                self._cond.notify()
            return
        self._enqueue("00" if kind == "00" else "text", text)

    def drop(self) -> None:
        """Close the TCP connection without a close frame."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with self._cond:
            self._cond.notify()

    # ---- the connection's thread -------------------------------------------------------

    def run(self, leftover: bytes) -> None:
        self.sim.hub.add(self)
        self._writer.start()
        try:
            if leftover:
                self._received(leftover)
            while not self._closed:
                try:
                    data = self.sock.recv(_CHUNK)
                except OSError:
                    break
                if not data:
                    with self._io:
                        self.proto.receive_eof()
                    break
                self._received(data)
                if self.proto.state is State.CLOSED:
                    break
        finally:
            self.sim.hub.remove(self)
            self.drop()
            self._writer.join(timeout=5)

    def _received(self, data: bytes) -> None:
        with self._io:
            self.proto.receive_data(data)
            events = self.proto.events_received()
            self._flush_locked()
        for event in events:
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(bytes(event.data).decode("utf-8", "replace"))

    def _message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        trnm = str(msg.get("trnm", ""))
        if trnm == "PING":
            self.echoes += 1
            return
        if trnm == "LOGIN":
            self._login(str(msg.get("token", "")))
            return
        if not self.logged_in:
            self._reply(
                {"trnm": trnm, "return_code": 3, "return_msg": "[8005:Token이 유효하지 않습니다]"}
            )
            return
        if trnm in ("REG", "REMOVE"):
            self._register(trnm, msg)
            return
        self._reply({"trnm": trnm, "return_code": 2, "return_msg": f"[1505:{trnm} 없음]"})

    def _login(self, token: str) -> None:
        with self.sim.lock:
            try:
                self.sim.auth.check(f"Bearer {token}", self.sim.clock.now())
            except SimError as e:
                ok, answer = False, {"return_code": e.return_code, "return_msg": e.return_msg}
            else:
                ok, answer = True, {"return_code": 0, "return_msg": ""}
        self._reply({"trnm": "LOGIN", **answer})
        if ok:
            self.logged_in = True
        else:
            self._enqueue("close", "")

    def _register(self, trnm: str, msg: dict[str, Any]) -> None:
        grp = str(msg.get("grp_no", "1"))
        data = msg.get("data")
        if not isinstance(data, list):
            self._reply({"trnm": trnm, "return_code": 2, "return_msg": "[1511:data 없음]"})
            return
        types = self.groups.setdefault(grp, {})
        if trnm == "REG" and str(msg.get("refresh", "1")) == "0":
            types.clear()
        for entry in data:
            if not isinstance(entry, dict):
                continue
            items = [str(i) for i in entry.get("item") or [] if isinstance(i, str)]
            for kind in [str(t) for t in entry.get("type") or []]:
                if trnm == "REG":
                    types.setdefault(kind, set()).update(items)
                    if kind == "0B":
                        self._note_symbols(items)
                else:
                    left = types.get(kind, set()) - set(items)
                    if left:
                        types[kind] = left
                    else:
                        types.pop(kind, None)
        self._reply({"trnm": trnm, "return_code": 0, "return_msg": ""})

    def _note_symbols(self, items: list[str]) -> None:
        with self.sim.lock:
            self.sim.broker.advance(self.sim.clock.now())
            for code in items:
                q = self.sim.market.quote(code)
                self.sim.hub.seen(code, q.price)

    def _reply(self, msg: dict[str, Any]) -> None:
        self._enqueue("text", json.dumps(msg, ensure_ascii=False))

    # ---- the writer --------------------------------------------------------------------

    def _enqueue(self, kind: str, payload: bytes | str) -> None:
        with self._cond:
            self._out.append((kind, payload))
            self._cond.notify()

    def _write_loop(self) -> None:
        last = time.monotonic()
        interval = self.sim.ws_ping_interval
        while not self._closed:
            with self._cond:
                now = time.monotonic()
                if now < self._stalled_until:
                    self._cond.wait(min(self._stalled_until - now, 0.5))
                    continue
                due = [h for h in self._held if h[0] <= now]
                if not self._out and not due and now - last < interval:
                    deadline = min([h[0] for h in self._held] + [last + interval])
                    self._cond.wait(min(max(deadline - now, 0.001), 0.5))
                    continue
                batch = list(self._out)
                self._out.clear()
                for h in due:
                    self._held.remove(h)
            items: list[tuple[str, bytes | str]] = []
            for kind, payload in batch:
                items.append((kind, payload))
                if kind == "00":  # a held 00 goes out after the next one: out of order
                    with self._cond:
                        items += [("text", text) for _, text in self._held]
                        self._held.clear()
            items += [("text", text) for _, text in due]
            if not items:
                items = [("text", '{"trnm": "PING"}')]
            if not self._send(items):
                return
            last = time.monotonic()

    def _send(self, items: list[tuple[str, bytes | str]]) -> bool:
        try:
            with self._io:
                for kind, payload in items:
                    if kind == "raw":
                        self._flush_locked()
                        self.sock.sendall(payload if isinstance(payload, bytes) else b"")
                    elif kind == "close":
                        self.proto.send_close(1000, "login failed")
                    else:
                        text = payload if isinstance(payload, str) else payload.decode()
                        self.proto.send_text(text.encode("utf-8"))
                self._flush_locked()
        except (OSError, InvalidState):
            self.drop()
            return False
        return True

    def _flush_locked(self) -> None:
        chunks = self.proto.data_to_send()
        data = b"".join(chunks)
        if data:
            self.sock.sendall(data)
        if b"" in chunks:  # the protocol's end of stream: the closing handshake is done
            # Half-close at once: the client waits for it (its close_timeout) otherwise.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)


def serve(
    sim: Simulator, sock: socket.socket, target: str, headers: dict[str, str], leftover: bytes
) -> None:
    """Answer the upgrade request on `sock` and run the session until it ends."""
    handshake = ServerProtocol(logger=_wire_log)
    response = handshake.accept(Request(path=target, headers=Headers(headers)))
    handshake.send_response(response)
    sock.sendall(b"".join(handshake.data_to_send()))
    if response.status_code != 101:
        return
    # The handshake's protocol object still expects to parse a request; the frames go
    # through a fresh one opened in the OPEN state (no extensions were negotiated).
    proto = ServerProtocol(state=State.OPEN, max_size=2**20, logger=_wire_log)
    Session(sim, sock, proto).run(leftover)
