"""The in-process way to reach the simulator: `httpx.Client(transport=sim.transport())`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


class SimTransport(httpx.BaseTransport):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply = self.sim.handle(request.method, request.url.path, headers, request.read())
        if reply.drop:
            # What a client sees when the server closes the socket before answering.
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            reply.status, headers=list(reply.headers), content=reply.body, request=request
        )
