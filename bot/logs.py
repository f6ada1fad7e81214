"""Logging to stderr with a last line of defence against secrets in log text."""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

# Slack tokens, bearer tokens, and api keys in query strings or headers.
_SECRET_PATTERNS = [
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]+"), "xox?-[redacted]"),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), "xapp-[redacted]"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s]*:[^/@\s]*@"), r"\1[redacted]@"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:api[-_]?key|apikey|token|password)=)[^&\s'\"]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)(['\"](?:api[-_]?key|apikey|authorization|password)['\"]\s*:\s*['\"])[^'\"]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    """Replace anything that looks like a secret with a marker."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then scrubs secrets from the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """One handler for the whole process, on stderr unless ``stream`` is given."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; Omnidesk's carries the key. Our own line is enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
