"""Which exceptions mean "a service is unavailable right now", and how a loop reports one."""

from __future__ import annotations

import asyncio

import aiormq
import asyncpg
import structlog

from worker.observe.metrics import Metrics

# InternalClientError is what a connection killed in the middle of a transaction raises.
DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    asyncio.TimeoutError,
)

# ChannelInvalidStateError is a RuntimeError, not an AMQPError: it is what a closed channel raises.
AMQP_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    asyncio.TimeoutError,
)

log = structlog.get_logger()
# SQLSTATE classes of values PostgreSQL refuses: data exception, integrity constraint violation,
# program limit exceeded. Another try with the same values fails the same way; other values pass.
_DATA_CLASSES = ("22", "23", "54")


def describe_refusal(exc: BaseException) -> str:
    """What PostgreSQL said, without its DETAIL: that repeats the refused row, partner data and
    all, which has no place in an error column or a log line."""
    if isinstance(exc, asyncpg.PostgresError):
        return f"{exc.args[0] if exc.args else type(exc).__name__} (SQLSTATE {exc.sqlstate})"
    return repr(exc)


def is_data_error(exc: BaseException) -> bool:
    """PostgreSQL refused the values, not the connection: retry item by item, then give up on
    the item. Any other database error means "unavailable now, try again later"."""
    sqlstate = getattr(exc, "sqlstate", None) if isinstance(exc, asyncpg.PostgresError) else None
    return isinstance(sqlstate, str) and sqlstate.startswith(_DATA_CLASSES)


def report_failure(metrics: Metrics, exc: Exception, what: str) -> None:
    """Count and log a failure a loop survives: one line for an outage, a traceback for a bug."""
    if isinstance(exc, DB_ERRORS):
        metrics.errors.labels("database").inc()
    elif isinstance(exc, AMQP_ERRORS):
        metrics.errors.labels("broker").inc()
    else:
        metrics.errors.labels("internal").inc()
        log.exception(what)
        return
    log.error(what, error=repr(exc))
