"""Secrets planted wherever a worker process knows one never reach a log line, even failing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.harness import OI_CODE, Broker, cr_stoc, make_settings
from tests.process import ProcessFactory
from tests.services import free_port, rabbitmqctl, wait_until
from worker.simulator import Simulator, SimulatorConfig, start

pytestmark = [pytest.mark.services, pytest.mark.slow]

TOKEN = "PLANTED-static-token-3b7c9e"
CLIENT_SECRET = "PLANTED-client-secret-5b2d"
WRONG_SECRET = "PLANTED-wrong-secret-8d1f"
URL_PASSWORD = "PLANTED-url-pass-2a6f"
AMQP_PASSWORD = "PLANTED-amqp-pass-9e0b"
DB_PASSWORD = "PLANTED-db-pass-41c7"
AWS_SECRET = "PLANTED-aws-secret-77aa"
SECRETS = (TOKEN, CLIENT_SECRET, WRONG_SECRET, URL_PASSWORD, AMQP_PASSWORD, DB_PASSWORD, AWS_SECRET)


@pytest.fixture
async def planted_simulator() -> AsyncIterator[Simulator]:
    simulator = await start(
        SimulatorConfig(
            client_id=OI_CODE, tokens=frozenset({TOKEN}), oauth_clients={"oi-client": CLIENT_SECRET}
        )
    )
    yield simulator
    await simulator.close()


@pytest.fixture
def amqp_user(amqp_url: str) -> Iterator[str]:
    """A RabbitMQ user of our own, so that the AMQP URL carries a planted password."""
    vhost = amqp_url.rsplit("/", 1)[1]
    user = f"{vhost}-redaction"
    rabbitmqctl("add_user", user, AMQP_PASSWORD)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    yield f"amqp://{user}:{AMQP_PASSWORD}@127.0.0.1:5672/{vhost}"
    rabbitmqctl("delete_user", user)


def _partners(base_url: str) -> str:
    port = base_url.rsplit(":", 1)[1]
    oauth = f'token_url = "{base_url}/oauth/token"\nclient_id = "oi-client"\n'
    return (
        f'[oc.OCAA]\nbase_url = "{base_url}"\ntoken_env = "OCAA_TOKEN"\nmax_wait = "2s"\n\n'
        f'[oc.OCOA]\nbase_url = "{base_url}"\n\n[oc.OCOA.oauth2]\n{oauth}'
        'client_secret_env = "OCOA_SECRET"\n\n'
        f'[oc.OCOB]\nbase_url = "{base_url}"\n\n[oc.OCOB.oauth2]\n{oauth}'
        'client_secret_env = "OCOB_SECRET"\n\n'
        f'[oc.OCUR]\nbase_url = "http://oi:{URL_PASSWORD}@127.0.0.1:{free_port()}"\n'
        'max_wait = "2s"\n\n'
        f'[oc.OCUS]\nbase_url = "http://oi:{URL_PASSWORD}@127.0.0.1:{port}"\n'
    )


async def test_no_secret_reaches_the_logs(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    amqp_user: str,
    tmp_path: Path,
    planted_simulator: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
    moto_endpoint: str,
    s3_bucket: str,
) -> None:
    settings = make_settings(
        database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@"),
        amqp_user,
        tmp_path,
        storage_url=f"s3://{s3_bucket}/photos",
        aws_endpoint_url=moto_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key=AWS_SECRET,
        aws_region="us-east-1",
    )
    settings.partners_file.write_text(_partners(planted_simulator.base_url))
    env = {"OCAA_TOKEN": TOKEN, "OCOA_SECRET": CLIENT_SECRET, "OCOB_SECRET": WRONG_SECRET}
    worker = spawn(settings, "redaction", env)
    try:
        await wait_until(lambda: _consuming(broker), timeout=30, what="the worker to consume")
        _s3(moto_endpoint).delete_bucket(Bucket=s3_bucket)  # the storage fails from now on
        messages = [
            cr_stoc("OCAA", intervention="R-STORAGE:photos=1"),  # S3 bucket gone
            cr_stoc("OCAA", intervention="R-DENIED:status=401"),  # static token refused
            cr_stoc("OCOA", intervention="R-REVOKED:unauth=5"),  # 401 after a renewal
            cr_stoc("OCOB", intervention="R-WRONG:photos=1"),  # token endpoint refuses us
            cr_stoc("OCUR", intervention="R-DOWN:photos=1"),  # partner unreachable
            cr_stoc("OCUS", intervention="R-USERINFO:photos=1"),  # credentials in the URL
        ]
        for message in messages:
            await broker.publish(message)
        await broker.publish(json.dumps({"messageId": "x", "token": TOKEN}).encode())
        await wait_until(lambda: _all_failed(db, messages), timeout=60, what="every failure")
        rabbitmqctl("close_all_connections", "-p", amqp_url.rsplit("/", 1)[1], "redaction test")
        await asyncio.sleep(1)
    finally:
        assert worker.terminate() == 0
    log = worker.log()

    assert "storing a photo failed" in log
    assert "token endpoint" in log
    assert "metadata answered 401" in log
    assert "[REDACTED]" in log  # aio-pika's reconnection line, at least, quoted the AMQP URL
    leaks = [secret for secret in SECRETS if secret in log]
    assert leaks == [], f"secrets in the log: {leaks}"
    assert not re.search(r"(?i)bearer\s+(?!\[REDACTED\])[A-Za-z0-9_-]{6,}", log)


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


async def _consuming(broker: Broker) -> bool:
    return await broker.consumers() > 0


async def _all_failed(db: asyncpg.Pool, messages: list[dict[str, str]]) -> bool:
    rows = await db.fetch("SELECT status FROM photo_requests")
    return len(rows) == len(messages) and all(r["status"] == "failed" for r in rows)
