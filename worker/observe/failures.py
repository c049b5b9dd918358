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
