"""The crash log: a bug's traceback, redacted, in a new file of mode 0600.

One writer for the two places a bug is caught: the command line's error handler (exit 3)
and a run whose job threads raised (the run ends, its tracebacks kept here).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from planrunner import __version__
from planrunner.clock import SEOUL
from planrunner.engine.journal import default_state_dir
from planrunner.redact import redact


def write_crash_log(text: str, state_dir: Path | None = None) -> Path:
    """`text` under `<state_dir>/logs/` (the default state directory when None) in a new
    `crash-<Seoul time>-<pid>-….log`, mode 0600 (mkstemp), headed by the version and the
    command line, redacted; in the system's temporary directory when the logs directory
    cannot be made (or no home directory is known). Returns the path, for the message
    that names it."""
    prefix = f"crash-{dt.datetime.now(SEOUL):%Y%m%d-%H%M%S}-{os.getpid()}-"
    try:
        d = (state_dir or default_state_dir()) / "logs"
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=d)
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home directory
        fd, name = tempfile.mkstemp(prefix=f"planrunner-{prefix}", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(redact(f"planrunner {__version__}\nargv: {sys.argv!r}\n\n{text}"))
    return Path(name)
