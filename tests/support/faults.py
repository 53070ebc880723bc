"""What the client hears, changed for one api-id, for the in-doubt tests: a transport
that hands that api-id's requests to a function, and the endings those tests share (the
runner's process died right after its intent; the broker executed the request and its
answer was lost)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import httpx

from planrunner.clock import Clock, RealClock
from planrunner.engine.events import Event
from planrunner.engine.execute import Executor
from planrunner.engine.journal import Journal
from planrunner.kiwoom.client import KiwoomClient
from planrunner.model import CompiledPlan


class Died(BaseException):
    """The runner's process ending right after its intent (as SIGKILL would)."""


class Answering(httpx.BaseTransport):
    """The simulator, but `change` decides what the client hears for one api-id (or
    each of several; the request itself reaches the simulator first, unless `change`
    says otherwise)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        api_id: str | tuple[str, ...],
        change: Callable[[httpx.Request, httpx.BaseTransport], httpx.Response],
    ) -> None:
        self.inner, self.change = inner, change
        self.api_ids = (api_id,) if isinstance(api_id, str) else api_id

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("api-id") in self.api_ids:
            return self.change(request, self.inner)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def died(request: httpx.Request, inner: httpx.BaseTransport) -> NoReturn:
    """The request never leaves: the process died after its intent."""
    raise Died


def answer_lost(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    """The broker executes the request; its answer is lost (an HTTP 500 instead)."""
    inner.handle_request(request).read()
    return httpx.Response(500, text="Internal Server Error")


def server_executor(
    plan: CompiledPlan,
    client: KiwoomClient,
    journal: Journal,
    clock: Clock | None = None,
    emit: Callable[[Event], None] | None = None,
) -> Executor:
    """An executor against a server on this machine, as under `--dry-run --base-url`
    (the server keeps its own hours), on a real clock unless told otherwise."""
    return Executor(
        plan=plan,
        client=client,
        journal=journal,
        clock=clock or RealClock(),
        emit=emit or (lambda _e: None),
        enforce_session=False,
    )
