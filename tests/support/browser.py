"""A real headless Chromium driven over the DevTools protocol, for the report's page test.

`find_chromium()` looks for the system's browser (Debian's `chromium-headless-shell` or
`chromium`; `.ci/run` installs one when none is there). `Browser` starts it with
`--remote-debugging-pipe` (the protocol as NUL-terminated JSON on fds 3 and 4: no port, no
WebSocket library) and a fresh profile, with the flags that keep it off the network (no
background requests, component updates or sync). `open(url)` loads a page in a new tab
and returns what it saw: the console errors, uncaught exceptions and failed loads (the
Runtime and Log domains), a full-page PNG screenshot, and the bounding boxes of elements
asked for by CSS selector.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
)
TIMEOUT = 30.0  # seconds for any one protocol answer (a loaded CI machine is slow)


def find_chromium() -> str | None:
    explicit = os.environ.get("PLANRUNNER_TEST_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_env() -> dict[str, str]:
    """The environment without a preloaded clock shifter (CI's libfaketime stages): the
    browser only draws a finished page, and under the preload it ran minutes instead of
    seconds. The page's figures were computed in the test process, on the moved clock."""
    return {
        k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")
    }


@dataclass
class Page:
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    png: bytes = b""
    boxes: dict[str, list[dict[str, float]]] = field(default_factory=dict)


class Browser:
    def __init__(self, executable: str, *, width: int = 1000, height: int = 900):
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory(prefix="planrunner-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def wire() -> None:  # in the child: the protocol's two fds are 3 and 4
            # Moved above 4 first: a pipe end may itself be fd 3 or 4 (dup2 onto itself
            # would keep its close-on-exec flag, or the second dup2 would overwrite it).
            high_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(resp_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self._log = open(os.path.join(self._profile.name, "stderr.log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                executable,
                *FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=wire,
            close_fds=False,
            env=browser_env(),
        )
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def stderr_tail(self) -> str:
        self._log.flush()
        path = os.path.join(self._profile.name, "stderr.log")
        with open(path, "rb") as f:
            return f.read()[-2000:].decode("utf-8", "replace")

    # ---- the protocol ---------------------------------------------------------------

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            ready, _, _ = select.select([self._resp_r], [], [], left)
            if ready:
                chunk = os.read(self._resp_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(
                        f"Chromium closed the DevTools pipe (exit {self.proc.poll()}): "
                        f"{self.stderr_tail()}"
                    )
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(msg)
        return message

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        msg: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(
                f"Chromium is gone (exit {self.proc.poll()}): {self.stderr_tail()}"
            ) from None
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._read(deadline)
            if answer.get("id") == ident:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            self.events.append(answer)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            ev = self._read(deadline)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)

    # ---- a page ---------------------------------------------------------------------

    def open(self, url: str, *, boxes: tuple[str, ...] = ()) -> Page:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", session, url=url)
        self.wait_event("Page.loadEventFired", session)
        page = Page()
        for sel in boxes:
            js = (
                f"JSON.stringify([...document.querySelectorAll({json.dumps(sel)})]"
                ".map(e => { const r = e.getBoundingClientRect(); return {x: r.x + scrollX, "
                "y: r.y + scrollY, width: r.width, height: r.height}; }))"
            )
            got = self.call("Runtime.evaluate", session, expression=js, returnByValue=True)
            page.boxes[sel] = json.loads(got["result"]["value"])
        shot = self.call(
            "Page.captureScreenshot", session, format="png", captureBeyondViewport=True
        )
        page.png = base64.b64decode(shot["data"])
        # Round trip once more so that events raised while rendering have arrived.
        self.call("Runtime.evaluate", session, expression="1")
        for ev in [e for e in self.events if e.get("sessionId") == session]:
            p = ev.get("params", {})
            if ev["method"] == "Runtime.exceptionThrown":
                page.errors.append(str(p.get("exceptionDetails", {}).get("text", "exception")))
            elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") == "error":
                page.errors.append(" ".join(str(a.get("value", "")) for a in p.get("args", [])))
            elif ev["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                page.errors.append(
                    f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
                )
        self.events = [e for e in self.events if e.get("sessionId") != session]
        self.call("Target.closeTarget", targetId=target)
        return page

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._cmd_w, self._resp_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
