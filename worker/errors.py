"""The exceptions that mean "a service is unavailable right now", as opposed to a bug."""

from __future__ import annotations

import asyncio

import aiormq
import asyncpg

DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)

# ChannelInvalidStateError is a RuntimeError, not an AMQPError: it is what a closed channel raises.
AMQP_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    asyncio.TimeoutError,
)
