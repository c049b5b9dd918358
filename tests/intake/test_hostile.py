"""A hostile message cannot stall the worker: at debug level, with 100 KB values that the
libraries log too, /healthz keeps answering, the message is dead-lettered at once, log lines
stay short, and SIGTERM is honoured in time."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.harness import Broker, cr_stoc, load_test_partners, make_settings, wait_for_status
from tests.process import ProcessFactory
from tests.services import wait_until
from worker.simulator import Simulator

pytestmark = [pytest.mark.services, pytest.mark.slow]


async def _healthz_seconds(port: int) -> float:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(5)) as answer,
    ):
        assert answer.status == 200
    return time.monotonic() - started


async def test_100_kb_values_at_debug_level_stall_nothing(
    spawn: ProcessFactory,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    simulator: Simulator,
    broker: Broker,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, amqp_url, tmp_path)
    load_test_partners(settings, simulator.base_url)
    worker = spawn(settings, "hostile", {"WORKER_LOG_LEVEL": "debug"})
    port = await wait_until(
        lambda: _logged_port(worker.log()), timeout=30, what="the worker's metrics port"
    )
    await wait_until(lambda: _consuming(broker), timeout=30, what="the worker to consume")
    huge = "a" * 100_000
    hostile = {"messageId": huge, "flux": "CR_STOC", "codeOC": "OCAA"}
    await broker.publish(json.dumps(hostile).encode(), message_id="huge-id")
    await broker.publish(json.dumps(cr_stoc(intervention=huge)).encode(), message_id="huge-ref")
    later = cr_stoc(intervention="AFTER-HOSTILE:photos=1")
    await broker.publish(later)

    worst = max([await _healthz_seconds(port) for _ in range(10)])
    dead: list[AbstractIncomingMessage] = []

    async def both_dead() -> bool:
        dead.extend(await broker.dead_letters())
        return len(dead) >= 2

    await wait_until(both_dead, timeout=10, what="both dead letters")
    # The message published after them is worked on, not stuck behind them.
    assert (await wait_for_status(db, later["messageId"]))["status"] == "completed"
    started = time.monotonic()
    code = await asyncio.to_thread(worker.terminate, 20)
    took = time.monotonic() - started

    assert worst < 1.0
    assert sorted(str(m.message_id) for m in dead) == ["huge-id", "huge-ref"]
    assert code == 0
    assert took < settings.shutdown_grace_seconds + 5
    lines = worker.log().splitlines()
    assert max(len(line) for line in lines) < 40_000  # every value capped at 2,000 characters
    assert any("AFTER-HOSTILE" in line and "request finished" in line for line in lines)


async def _logged_port(log: str) -> int | None:
    found = re.search(r'"port": (\d+), "event": "serving metrics and health"', log)
    return int(found.group(1)) if found else None


async def _consuming(broker: Broker) -> bool:
    return await broker.consumers() > 0
