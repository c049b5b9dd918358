"""Fixtures over the real services: a database and a RabbitMQ vhost per test, moto_server for S3.

A service that is down is an error here, never a skip: CI must not pass without them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.harness import (
    OAUTH_CLIENT,
    OAUTH_SECRET,
    OI_CODE,
    STATIC_TOKEN,
    Broker,
    InProcessWorker,
    StartWorker,
    load_test_partners,
    make_settings,
)
from tests.nodes import PrivatePostgres, PrivateRabbit, remove_stale
from tests.process import ProcessFactory
from tests.services import VhostPool, free_port, wait_for_port
from worker.database.migrations import migrate
from worker.review.processes import Check
from worker.settings import Settings
from worker.simulator import Simulator, SimulatorConfig
from worker.simulator import start as start_simulator

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SESSION = f"wt{os.getpid()}"


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A migrated database, cloned for each test with CREATE DATABASE ... TEMPLATE."""
    name = f"{SESSION}_template"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await _drop_stale(conn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(_dsn(name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _drop_stale(conn: asyncpg.Connection) -> None:
    """Databases left by test sessions that were killed before their teardown."""
    rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname ~ '^wt[0-9]+_'")
    for row in rows:
        pid = int(row["datname"][2:].split("_")[0])
        if not _alive(pid):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _dsn(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
async def database_url(template_db: str) -> AsyncIterator[str]:
    name = f"{SESSION}_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _dsn(name)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def vhost_pool() -> Iterator[VhostPool]:
    pool = VhostPool(prefix=f"{SESSION}-")
    pool.delete_stale(_alive)
    yield pool
    pool.delete_all()


@pytest.fixture
def amqp_url(vhost_pool: VhostPool) -> str:
    return f"amqp://guest:guest@127.0.0.1:5672/{vhost_pool.take()}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    import boto3

    name = f"photos-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = await start_simulator(
        SimulatorConfig(
            client_id=OI_CODE,
            tokens=frozenset({STATIC_TOKEN}),
            oauth_clients={OAUTH_CLIENT: OAUTH_SECRET},
        )
    )
    yield sim
    await sim.close()


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    opened = await Broker(amqp_url).open()
    yield opened
    await opened.close()


@pytest.fixture
def settings(database_url: str, amqp_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, amqp_url, tmp_path)


@pytest.fixture
async def start_worker(
    database_url: str, amqp_url: str, tmp_path: Path, simulator: Simulator, broker: Broker
) -> AsyncIterator[StartWorker]:
    """Start in-process workers: `await start_worker({"setting": value}, OCAA={"key": value})`;
    `review_check=` replaces the check its review processes run.

    Partners are OCAA (static token) and OCOA (OAuth2), with the given tables merged in.
    """
    started: list[InProcessWorker] = []

    async def start(
        overrides: dict[str, Any] | None = None,
        review_check: Check | None = None,
        **per_oc: dict[str, Any],
    ) -> InProcessWorker:
        settings = make_settings(database_url, amqp_url, tmp_path, **(overrides or {}))
        partners = load_test_partners(settings, simulator.base_url, **per_oc)
        started.append(await InProcessWorker(settings, partners, broker, review_check).start())
        return started[-1]

    yield start
    for running in started:
        await running.stop()


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of this session's own, for the tests that restart the broker."""
    remove_stale(_alive)
    node = PrivateRabbit()
    try:
        yield node.start()
    finally:
        node.close()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this session's own, for the tests that restart the database."""
    remove_stale(_alive)
    cluster = PrivatePostgres()
    try:
        yield cluster.start()
    finally:
        cluster.close()


@pytest.fixture
def private_amqp_url(private_rabbit: PrivateRabbit) -> str:
    return private_rabbit.vhost(f"t-{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def private_database_url(private_postgres: PrivatePostgres) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(private_postgres.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(private_postgres.url(name))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return private_postgres.url(name)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[ProcessFactory]:
    """Start `worker run` processes: `spawn(settings, "name")`; leftovers are killed."""
    factory = ProcessFactory(tmp_path)
    yield factory
    factory.kill_all()


@pytest.fixture
async def worker(start_worker: StartWorker) -> InProcessWorker:
    """A started worker with the default test settings and partners."""
    return await start_worker()
