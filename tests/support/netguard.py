"""Run `planrunner` with every non-loopback network attempt recorded and refused.

    python -m tests.support.netguard RECORD_FILE run PLAN --live ...

Before the CLI starts, `socket.getaddrinfo` and `socket.socket.connect` are wrapped: a
name or address that is not loopback is appended to RECORD_FILE (one JSON line:
`{"op": "resolve"|"connect", "host": ...}`) and refused with an OSError, so nothing
leaves the machine, not even a DNS query. Installed explicitly (not through a
sitecustomize that might silently not load): if this module fails, the CLI never runs.
The client posts through its own httpx transport, which does not read HTTP(S)_PROXY, so
a proxy variable would not be an honest seam; the socket layer is.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from typing import Any

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def install(record_file: str) -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def record(op: str, host: object, port: object) -> None:
        with open(record_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"op": op, "host": str(host), "port": str(port)}) + "\n")

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            record("resolve", host, port)
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: {host} refused")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            record("connect", address[0], address[1])
            raise ConnectionRefusedError(f"netguard: {address[0]} refused")
        real_connect(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    record("installed", "-", "-")


def main() -> None:
    record_file, *args = sys.argv[1:]
    install(record_file)
    from planrunner.cli import cli

    cli(args=args, prog_name="planrunner")


if __name__ == "__main__":
    main()
