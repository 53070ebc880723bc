"""The test entry point: `python -m tests.support.entry ARGS` is `planrunner ARGS` with the
crash and settle seams the product never reads from the environment.

    PLANRUNNER_CRASH_AT=JOB:REQ:after-intent|after-post   SIGKILL this process right there
    PLANRUNNER_SETTLE_SECONDS=0.3   trust the broker's lists sooner (a loopback simulator)
    PLANRUNNER_IN_FLIGHT_SECONDS=0.5   after a crash, a request may have been in flight
                                       that long after its intent (default: the client's
                                       timeout, 13 s; a loopback simulator answers in ms)

Loopback tests (tests/support/loopback.run_cli) and the reliability benches start the
runner this way; a user's `planrunner` never has these seams, whatever its environment.
"""

from __future__ import annotations

import os
import signal

from planrunner.cli import main
from planrunner.engine import execute, reconcile


def _install() -> None:
    crash_at = os.environ.get("PLANRUNNER_CRASH_AT", "")
    if crash_at:

        def crash(job_id: str, req: int, where: str) -> None:
            if f"{job_id}:{req}:{where}" == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)

        execute.CRASH_POINT = crash
    settle = os.environ.get("PLANRUNNER_SETTLE_SECONDS", "")
    if settle:
        reconcile.SETTLE_SECONDS = float(settle)
    in_flight = os.environ.get("PLANRUNNER_IN_FLIGHT_SECONDS", "")
    if in_flight:
        reconcile.IN_FLIGHT_SECONDS = float(in_flight)


if __name__ == "__main__":
    _install()
    main()
