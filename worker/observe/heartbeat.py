"""A worker's heartbeat: one row per process in `worker_heartbeats`, written every
WORKER_HEARTBEAT_SECONDS, so that the on-call view can tell a stopped fleet from a quiet hour.

The row carries what the process runs (roles, version), its work in flight and what it saw of
the broker's queues (depth and consumers), so that the console needs no broker credentials.
A clean stop marks the row stopped; a killed process simply stops being seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import asyncpg
import structlog

from worker.observe.failures import DB_ERRORS

log = structlog.get_logger()

QueueView = dict[str, dict[str, int]]
# Rows of processes unseen for a week are forgotten: a rolling deploy leaves one per pod.
_FORGET = "DELETE FROM worker_heartbeats WHERE seen_at < now() - interval '7 days'"

_BEAT = """
INSERT INTO worker_heartbeats
    (instance, roles, version, host, pid, started_at, seen_at, in_flight, queues)
VALUES ($1, $2, $3, $4, $5, now(), now(), $6, $7::jsonb)
ON CONFLICT (instance) DO UPDATE SET
    roles = excluded.roles, version = excluded.version, seen_at = excluded.seen_at,
    stopped_at = NULL, in_flight = excluded.in_flight,
    queues = CASE WHEN excluded.queues = '{}'::jsonb THEN worker_heartbeats.queues
                  ELSE excluded.queues END
"""


def package_version() -> str:
    try:
        return version("photo-worker")
    except PackageNotFoundError:
        return "unknown"


class Heartbeat:
    def __init__(
        self,
        pool: asyncpg.Pool,
        instance: str,
        roles: str,
        every: float,
        in_flight: Callable[[], int],
        queues: Callable[[], Awaitable[QueueView]],
    ) -> None:
        self._pool = pool
        self._instance = instance
        self._roles = roles
        self._every = every
        self._in_flight = in_flight
        self._queues = queues
        self._version = package_version()

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop` is set, then say the process stopped cleanly."""
        await self._forget_old()
        while not stop.is_set():
            await self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every)
        await self._stopped()

    async def beat(self) -> None:
        queues = await self._queues()
        args: list[Any] = [
            self._instance,
            self._roles,
            self._version,
            socket.gethostname(),
            os.getpid(),
            self._in_flight(),
            json.dumps(queues),
        ]
        try:
            await self._pool.execute(_BEAT, *args, timeout=self._every)
        except (*DB_ERRORS, TimeoutError) as exc:
            # The database away is seen elsewhere (readiness); the next beat tries again.
            log.warning("heartbeat not recorded", error=repr(exc))

    async def _stopped(self) -> None:
        try:
            await self._pool.execute(
                "UPDATE worker_heartbeats SET stopped_at = now(), in_flight = 0"
                " WHERE instance = $1",
                self._instance,
                timeout=2.0,
            )
        except (*DB_ERRORS, TimeoutError) as exc:
            log.warning("heartbeat stop not recorded", error=repr(exc))

    async def _forget_old(self) -> None:
        try:
            await self._pool.execute(_FORGET, timeout=self._every)
        except (*DB_ERRORS, TimeoutError) as exc:
            log.warning("old heartbeats not cleared", error=repr(exc))
