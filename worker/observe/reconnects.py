"""A routine broker reconnect, told in one warning line (and one info line when it is back).

When RabbitMQ closes the connection (a restart, a failover, `close_connection`), aiormq and
aio-pika log it as errors with tracebacks from several callbacks, although the robust connection
recovers by itself. Those lines are dropped here, and the connection's own callbacks say what
happened instead. Everything else from these libraries is left as it is: aio-pika's info line
`Connection to ... closed. Reconnecting after 2 seconds`, a reconnect attempt that fails (a
warning), an unexpected error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.get_logger()

# (logger, start of the message) of what one routine reconnect logs, aiormq 7 / aio-pika 10.
_ROUTINE = (
    ("aiormq.connection", re.compile(r"Unexpected connection close from remote")),
    ("aiormq.connection", re.compile(r"Cancelling cause reader exited abnormally")),
    (
        "aio_pika.tools",
        re.compile(r"Callback <OneShotCallback: cb=<bound method Robust\w+\._on_close"),
    ),
)


class RoutineReconnectFilter(logging.Filter):
    """Drops the library lines of a reconnect that `report_reconnects` tells in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("aiormq", "aio_pika")):
            return True
        message = record.getMessage()
        return not any(record.name == name and pattern.match(message) for name, pattern in _ROUTINE)


def report_reconnects(connection: AbstractRobustConnection, what: str = "RabbitMQ") -> None:
    """One warning when the connection is lost (not when we close it), one info line when the
    robust connection is back."""

    def lost(_: Any, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            log.warning(f"{what} connection lost; reconnecting", reason=_short(exc))

    def back(_: Any) -> None:
        log.info(f"{what} connection restored")

    connection.close_callbacks.add(lost)
    connection.reconnect_callbacks.add(back)


def _short(exc: BaseException) -> str:
    """`CONNECTION_FORCED - broker shutdown`, rather than the whole repr of the close frame."""
    text = str(exc)
    found = re.search(r"reply_text='([^']*)'", text)
    return found.group(1) if found else f"{type(exc).__name__}: {text}"[:300]
