"""Logging: structlog, one JSON object per line in production, readable lines on a terminal.

Library logs (aio-pika, asyncpg, aiohttp) go through the same renderer and the same redaction,
so a secret cannot leak through a third-party message either.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_PATTERNS = (
    # Authorization header values, whatever the scheme (Bearer, Basic...), wherever quoted.
    (
        re.compile(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|digest|token)\s+)?)"
            r"[^'\",}\s]+"
        ),
        r"\1[REDACTED]",
    ),
    (re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1[REDACTED]"),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), r"\1[REDACTED]@"),
    (
        re.compile(
            r"(?i)((?:client_secret|access_token|password)['\"]?\s*[:=]\s*['\"]?)[^'\"&,}\s]+"
        ),
        r"\1[REDACTED]",
    ),
)
# Keys whose values are secret whatever they look like (headers logged as a dict, for instance).
_SECRET_KEYS = re.compile(r"(?i)authorization|token|secret|password")


class Redactor:
    """Removes secrets from every string of an event: the known ones verbatim, and patterns."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        return {key: self._clean_item(key, value) for key, value in event.items()}

    def _clean_item(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and _SECRET_KEYS.search(key) and isinstance(value, str):
            return "[REDACTED]"
        return self._clean(value)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, BaseException):
            return self.redact(repr(value))
        return value


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Called once by the command line, before anything logs."""
    stream = stream or sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before redaction, so exception messages are cleaned too.
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        # Dropped at once when below the level, before any processor runs.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
