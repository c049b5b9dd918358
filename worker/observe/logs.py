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

from worker.border import Redactor
from worker.observe.reconnects import RoutineReconnectFilter

# Keys whose values are secret whatever they look like (headers logged as a dict, for instance).
_SECRET_KEYS = re.compile(r"(?i)authorization|token|secret|password")
# A value longer than this is cut: a 100 KB reference must cost a log line little, and read well.
VALUE_LIMIT = 2000
TRACEBACK_LIMIT = 16000
# C0 and C1 controls and DEL: a value from outside (a user name, a reference) must not move a
# terminal's cursor, colour it, or start a fake log line. A traceback keeps its line breaks.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRACEBACK_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return ascii(match[0])[1:-1]


class EventCleaner:
    """A structlog processor: every string of an event redacted, capped, its control characters
    escaped as Python writes them, in every format.

    Redaction comes first, so that a cut can never leave half a secret behind.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        return {key: self._clean_item(key, value) for key, value in event.items()}

    def _clean_item(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and _SECRET_KEYS.search(key) and isinstance(value, str):
            return "[REDACTED]"
        limit = TRACEBACK_LIMIT if key == "exception" else VALUE_LIMIT
        return self._clean(value, limit)

    def _clean(self, value: Any, limit: int = VALUE_LIMIT) -> Any:
        if isinstance(value, str):
            controls = _TRACEBACK_CONTROLS if limit == TRACEBACK_LIMIT else _CONTROLS
            return controls.sub(_escaped, self._redactor.redact_capped(value, limit))
        if isinstance(value, dict):
            return {k: self._clean_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, BaseException):
            return _CONTROLS.sub(_escaped, self._redactor.redact_capped(repr(value), limit))
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
        structlog.processors.JSONRenderer()
        if as_json
        # Colours only for a person at a terminal: escape codes would garble a file or a pipe.
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before redaction, so exception messages are cleaned too.
            structlog.processors.format_exc_info,
            EventCleaner(Redactor(secrets)),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RoutineReconnectFilter())
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
