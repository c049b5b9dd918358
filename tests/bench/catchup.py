"""Catch-up day: the broker holds a backlog of CR_STOC (an outage just ended) when the worker
starts. How fast intake records them, how long until every request is finished, with the
OC answering 200 with one photo at once, and how long until every request is reviewed (the
worker runs both roles, as `worker run` does by default).

The review of a large backlog can take hours on a small machine (each request's PTO photo is
read by OCR): past `REVIEW_WINDOW` seconds after ingestion ends, the run reports how many
requests were reviewed and at what rate since ingestion ended, and the finish that rate
projects, marked as a projection, instead of waiting."""

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
REVIEW_WINDOW = 600.0


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
        cpu = worker.sample().cpu_seconds - before
        left_then, ended = await env.pool.fetchval(_UNREVIEWED), time.monotonic()
        left = await _wait_reviews(env)
        worker.stop()
        row = await env.pool.fetchrow(_SPREAD)
        if row is None or row["n"] != messages:
            raise RuntimeError(f"expected {messages} requests, found {row and row['n']}")
        rate = (left_then - left) / (time.monotonic() - ended)
        figures.add(
            intake_per_s=messages / max(float(row["intake"]), 1e-3),
            finish_s=float(row["finish"]),
            reviewed_at_finish=messages - left_then,
            review_per_s=rate,
            # Measured when every review ended in the window, else projected at its rate.
            review_s=float(row["review"]) if not left else float(row["finish"]) + left_then / rate,
            review_projected=float(left > 0),
            cpu_ms=1000 * cpu / messages,
        )
    return figures


async def _wait(env: BenchEnvironment, messages: int, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while await env.count(COMPLETED) < messages:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backlog of {messages} was not finished in {timeout} s")
        await asyncio.sleep(0.5)


async def _wait_reviews(env: BenchEnvironment) -> int:
    """Requests still waiting for their review when they all ended or the window closed."""
    deadline = time.monotonic() + REVIEW_WINDOW
    while (left := await env.pool.fetchval(_UNREVIEWED)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return int(left)
