"""Secrets out of every text that leaves the process.

The client registers the app key, the secret key and every token it holds; `redact`
blanks them (as written, and as a repr, bytes repr or JSON string would show them) out of
a text. Every way out passes through it: printed events and errors, journal lines, crash
logs and log records. A library's exception can quote a secret (h11's "Illegal header
value b'Bearer …'"), so the text is scrubbed where it leaves, whatever raised it.
"""

from __future__ import annotations

import json
import logging
import threading

MASK = "***"
MIN_LENGTH = 6  # shorter values would blank ordinary words; no key or token is this short

_lock = threading.Lock()
_forms: tuple[str, ...] = ()


def register(*values: str) -> None:
    """Remember secrets (idempotent); too short or empty values are ignored."""
    global _forms
    new: set[str] = set()
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            continue
        new.add(value)
        new.add(repr(value)[1:-1])
        new.add(repr(value.encode("utf-8", "replace"))[2:-1])
        new.add(json.dumps(value)[1:-1])
        new.add(json.dumps(value, ensure_ascii=False)[1:-1])
        stripped = value.strip()  # a token with a stray space is quoted without it, too
        if len(stripped) >= MIN_LENGTH:
            new.add(stripped)
    with _lock:
        if new - set(_forms):
            _forms = tuple(sorted(set(_forms) | new, key=len, reverse=True))


def redact(text: str) -> str:
    """The text with every registered secret replaced by ***."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message (arguments applied) and its exception text
    are scrubbed before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
