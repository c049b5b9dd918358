"""Catch-up day: the broker holds a backlog of CR_STOC (an outage just ended) when the worker
starts. How fast intake records them, how long until every request is finished, with the
OC answering 200 with one photo at once, and how long until every request is reviewed (the
worker runs both roles, as `worker run` does by default)."""

from __future__ import annotations

import asyncio
import time

from tests.bench.environment import COMPLETED, BenchEnvironment
from tests.bench.scenarios import Figures, publish

_SPREAD = """
SELECT count(*) AS n, extract(epoch FROM max(received_at) - min(received_at)) AS intake,
    extract(epoch FROM max(completed_at) - min(received_at)) AS finish,
    extract(epoch FROM (SELECT max(reviewed_at) FROM request_reviews) - min(received_at)) AS review
FROM photo_requests
"""
_UNREVIEWED = "SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"


async def catch_up(env: BenchEnvironment, messages: int, runs: int) -> Figures:
    """Intake rate: requests recorded per second, first to last `received_at` (the database's
    clock). Finished: from the first request recorded to the last `completed_at`; reviewed: to
    the last `reviewed_at`."""
    figures = Figures()
    for run in range(runs):
        await env.reset()
        await publish(env, [f"CU{run}-{i}:photos=1" for i in range(messages)])
        worker = env.worker(f"catchup-{run}")
        before = worker.sample().cpu_seconds
        await _wait(env, messages)
        await _wait_reviews(env)
        cpu = worker.sample().cpu_seconds - before
        worker.stop()
        row = await env.pool.fetchrow(_SPREAD)
        if row is None or row["n"] != messages:
            raise RuntimeError(f"expected {messages} requests, found {row and row['n']}")
        figures.add(
            intake_per_s=messages / max(float(row["intake"]), 1e-3),
            finish_s=float(row["finish"]),
            review_s=float(row["review"]),
            cpu_ms=1000 * cpu / messages,
        )
    return figures


async def _wait(env: BenchEnvironment, messages: int, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while await env.count(COMPLETED) < messages:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backlog of {messages} was not finished in {timeout} s")
        await asyncio.sleep(0.5)


async def _wait_reviews(env: BenchEnvironment, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while await env.pool.fetchval(_UNREVIEWED):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backlog's reviews were not finished in {timeout} s")
        await asyncio.sleep(0.5)
