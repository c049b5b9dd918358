"""Bursts of requests: throughput and CPU per photo against the bare loop, and the same burst
spread over several worker processes. Each run starts from empty tables, queues and photos."""

from __future__ import annotations

import asyncio
import os
import time
from functools import partial
from pathlib import Path

import psutil

from tests.bench.environment import CONCURRENCY, BenchEnvironment
from tests.bench.raw import download_all
from tests.bench.scenarios import MB, Figures, publish

PHOTOS = 6  # per request
SCALES = (1, 2, 4)  # worker processes of the scaling burst
OFF = "nochecks_"  # the worker with its photo checks off: the bare loop's work, and bookkeeping


async def throughput(
    env: BenchEnvironment, requests: int, runs: int, baseline: Path | None = None
) -> Figures:
    """N requests of 6 photos of 200 KB: the worker from publication to the last `completed`,
    against the raw loop over the same kind of photos at the same concurrency. The two take
    turns going first, each after the page cache has been written back (`sync`). CPU is the
    process's user + system time (the worker's; the bench's own while it runs the raw loop).
    The worker runs with its photo checks (decoding each photo) and without (the same work as
    the bare loop, plus the bookkeeping). With a `baseline` checkout, its worker (checks off)
    takes its turn too: "before" figures from the same runs."""
    figures = Figures()
    for run in range(runs):
        phases = [_raw_phase, _worker_phase, partial(_worker_phase, prefix=OFF, qa_enabled="false")]
        if baseline is not None:
            phases.append(
                partial(_worker_phase, code=baseline, prefix=f"before_{OFF}", qa_enabled="false")
            )
        if run % 2:
            phases.reverse()
        for phase in phases:
            await env.reset()
            os.sync()
            figures.add(**await phase(env, requests, run))
        for prefix in ("", OFF, f"before_{OFF}") if baseline is not None else ("", OFF):
            _add_ratios(figures, prefix)
    return figures


async def _raw_phase(env: BenchEnvironment, requests: int, run: int) -> dict[str, float]:
    references = [f"RAW{run}-{i}:photos=6:size=200k:format=jpeg" for i in range(requests)]
    before = _own_cpu()
    photos, size, seconds = await download_all(
        env.simulator_url, references, CONCURRENCY, env.photos / "raw"
    )
    cpu = _own_cpu() - before
    return {
        "raw_photos_s": photos / seconds,
        "raw_mb_s": size / MB / seconds,
        "raw_cpu_ms": 1000 * cpu / photos,
    }


async def _worker_phase(
    env: BenchEnvironment,
    requests: int,
    run: int,
    code: Path | None = None,
    prefix: str = "",
    **settings: str,
) -> dict[str, float]:
    worker = env.worker(f"throughput-{prefix}{run}", code=code, **settings)
    await worker.ready()
    references = [f"TP{prefix}{run}-{i}:photos=6:size=200k:format=jpeg" for i in range(requests)]
    before = worker.sample().cpu_seconds
    started = time.monotonic()
    await publish(env, references)
    await env.wait_completed(requests)
    seconds = time.monotonic() - started
    cpu = worker.sample().cpu_seconds - before
    worker.stop()
    photos = requests * PHOTOS
    return {
        f"{prefix}worker_photos_s": photos / seconds,
        f"{prefix}worker_mb_s": photos * 200 * 1024 / MB / seconds,
        f"{prefix}worker_cpu_ms": 1000 * cpu / photos,
    }


def _add_ratios(figures: Figures, prefix: str) -> None:
    values = figures.values
    raw_rate, raw_cpu = values["raw_photos_s"][-1], values["raw_cpu_ms"][-1]
    figures.add(
        **{
            f"{prefix}ratio": values[f"{prefix}worker_photos_s"][-1] / raw_rate,
            f"{prefix}cpu_ratio": raw_cpu / values[f"{prefix}worker_cpu_ms"][-1],
        }
    )


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def scaling(env: BenchEnvironment, requests: int, runs: int) -> Figures:
    """The same burst of requests with 1, 2 and 4 worker processes, all already running; and
    the transactions PostgreSQL committed per request (pg_stat_database, the bench's own
    polling taken out)."""
    figures = Figures()
    for run in range(runs):
        for processes in SCALES:
            await env.reset()
            os.sync()
            figures.add(**await _scaled_burst(env, requests, run, processes))
        for processes in SCALES[1:]:
            seconds = figures.values[f"seconds_{processes}"][-1]
            figures.add(**{f"speedup_{processes}": figures.values["seconds_1"][-1] / seconds})
    return figures


async def _scaled_burst(
    env: BenchEnvironment, requests: int, run: int, processes: int
) -> dict[str, float]:
    workers = [env.worker(f"scale-{run}-{processes}-{n}") for n in range(processes)]
    for worker in workers:
        await worker.ready()
    committed = await _committed(env)
    started = time.monotonic()
    psutil.cpu_percent()  # starts the machine-wide measurement
    polls = await _burst(env, [f"SC{run}-{processes}-{i}" for i in range(requests)])
    seconds = time.monotonic() - started
    busy = psutil.cpu_percent()
    for worker in workers:
        worker.stop()
    transactions = await _committed(env) - committed - polls - 2
    return {
        f"seconds_{processes}": seconds,
        f"busy_{processes}": busy,
        f"twice_{processes}": await _done_twice(env, requests),
        f"share_{processes}": await _busiest_share(env),
        f"xacts_{processes}": transactions / requests,
    }


async def _burst(env: BenchEnvironment, names: list[str]) -> int:
    """Publish the requests, wait until all are completed; how many polls that took."""
    await publish(env, [f"{name}:photos=6:size=200k:format=jpeg" for name in names])
    polls = 0
    while await env.count("SELECT count(*) FROM photo_requests WHERE status = 'completed'") < len(
        names
    ):
        polls += 1
        await asyncio.sleep(0.02)
    return polls + 1


async def _committed(env: BenchEnvironment) -> int:
    """Transactions committed in the bench's database so far, every backend's stats flushed
    (the workers' when their connections closed; this one's by asking)."""
    async with env.pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        return int(
            await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )


async def _busiest_share(env: BenchEnvironment) -> float:
    """The share of the attempts made by the busiest process (0.5: evenly shared by two)."""
    rows = await env.pool.fetch(
        "SELECT worker, count(*) AS n FROM request_attempts GROUP BY worker"
    )
    return max(r["n"] for r in rows) / sum(r["n"] for r in rows)


async def _done_twice(env: BenchEnvironment, requests: int) -> int:
    """Anything done more than once: extra attempts, photo rows or events beyond one each."""
    attempts = await env.count("SELECT count(*) FROM request_attempts")
    photos = await env.count("SELECT count(*) FROM photo_request_photos")
    events = await env.count("SELECT count(*) FROM outbox")
    return (attempts - requests) + (photos - PHOTOS * requests) + (events - requests)
