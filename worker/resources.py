"""The clients of a worker process, opened in one place and closed in reverse order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import aio_pika
import aiormq
import asyncpg
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from worker.database.migrations import check_schema
from worker.observe.failures import AMQP_ERRORS, DB_ERRORS
from worker.observe.metrics import Metrics
from worker.observe.reconnects import report_reconnects
from worker.partners.client import PartnerClient, open_session
from worker.partners.config import Partner
from worker.partners.tls import open_tls
from worker.photos.storage import PhotoStore, open_store
from worker.settings import Settings

_CONNECT_TIMEOUT = 30.0
_RECONNECT_INTERVAL = 2.0  # aio-pika's default is 5 s
_CLOSE_SECONDS = 2.0


class ServiceUnavailable(Exception):
    """PostgreSQL or RabbitMQ cannot be reached at start-up."""


@dataclass(frozen=True)
class Resources:
    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    consumer_channel: AbstractRobustChannel
    publisher_channel: AbstractRobustChannel
    store: PhotoStore
    clients: dict[str, PartnerClient]


async def open_pool(settings: Settings, max_size: int = 10) -> asyncpg.Pool:
    url = settings.database_url.get_secret_value()
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            command_timeout=60,
            server_settings={"application_name": f"photo-worker {settings.instance}"[:63]},
            reset=_keep_session,
        )
    except DB_ERRORS as exc:
        raise ServiceUnavailable(f"PostgreSQL at {_where(url)}: {_describe(exc)}") from exc
    assert pool is not None  # create_pool returns None only when awaited twice
    return pool


async def connect_database(settings: Settings) -> asyncpg.Connection:
    """One connection, for the commands that need no pool (migrate, the operators' commands)."""
    url = settings.database_url.get_secret_value()
    try:
        return await asyncpg.connect(url, timeout=_CONNECT_TIMEOUT)
    except DB_ERRORS as exc:
        raise ServiceUnavailable(f"PostgreSQL at {_where(url)}: {_describe(exc)}") from exc


async def connect_broker(settings: Settings) -> AbstractRobustConnection:
    url = settings.amqp_url.get_secret_value()
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT):
            connection = await aio_pika.connect_robust(
                url,
                client_properties={"connection_name": f"photo-worker {settings.instance}"},
                reconnect_interval=_RECONNECT_INTERVAL,
            )
    except AMQP_ERRORS as exc:
        raise ServiceUnavailable(f"RabbitMQ at {_where(url)}: {_refusal(url, exc)}") from exc
    report_reconnects(connection)
    return connection


def _refusal(url: str, exc: BaseException) -> str:
    """What RabbitMQ meant: aiormq reports a refused virtual host as an unexpected frame."""
    parsed = urlparse(url)
    user, vhost = parsed.username or "guest", unquote(parsed.path[1:]) or "/"
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError):
        return f"login refused for user {user!r}: wrong user name or password"
    if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(exc):
        return (
            f"virtual host {vhost!r} refused to user {user!r}: it does not exist, or the user has"
            " no permission on it (rabbitmqctl add_vhost, rabbitmqctl set_permissions)"
        )
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close gracefully if the database answers, at once otherwise."""
    try:
        await asyncio.wait_for(pool.close(), _CLOSE_SECONDS)
    except TimeoutError:
        pool.terminate()


async def _keep_session(_: asyncpg.Connection) -> None:
    """The worker keeps no session state (no SET, LISTEN or advisory lock on pooled
    connections), so the default reset query would only add a round trip to every release.
    asyncpg still rolls back an open transaction before calling this."""


def _where(url: str) -> str:
    """Host, port and path of a service URL, without its credentials."""
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port or '(default port)'}{parsed.path}"


@asynccontextmanager
async def open_resources(
    settings: Settings, partners: Mapping[str, Partner], metrics: Metrics
) -> AsyncIterator[Resources]:
    # Checked first, as the partners file was: a certificate that does not load stops the start.
    every = settings.certificate_check_seconds
    tls = {code: open_tls(partner, metrics, every) for code, partner in partners.items()}
    async with AsyncExitStack() as stack:
        store = open_store(settings)
        # Found now, not at the first photo: a store that cannot be written stops the start.
        problem = await store.problem(settings.instance)
        if problem is not None:
            raise ServiceUnavailable(problem)
        pool = await open_pool(settings, max_size=max(4, min(20, settings.concurrency + 2)))
        stack.push_async_callback(close_pool, pool)
        try:
            await check_schema(pool)
        except DB_ERRORS as exc:  # the database went away just after the pool connected
            raise ServiceUnavailable(f"PostgreSQL: {_describe(exc)}") from exc
        connection = await connect_broker(settings)
        stack.push_async_callback(connection.close)
        consumer_channel = await connection.channel(publisher_confirms=False)
        await consumer_channel.set_qos(prefetch_count=settings.prefetch)
        publisher_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        oi_code = settings.require_oi_code()
        clients = {}
        for code, partner in partners.items():
            session = open_session(partner)
            stack.push_async_callback(session.close)
            clients[code] = PartnerClient(partner, oi_code, session, metrics, tls[code])
        yield Resources(pool, connection, consumer_channel, publisher_channel, store, clients)
