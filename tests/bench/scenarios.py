"""The five measurements. Each run starts from empty tables, queues and photo directory."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field

import psutil

from tests.bench.environment import COMPLETED, CONCURRENCY, OC, BenchEnvironment, Place
from tests.bench.raw import download_all
from worker.ops.sender import cr_stoc_message, send_bodies
from worker.settings import Settings

MB = 1_000_000


@dataclass
class Figures:
    """The values of one measurement over the runs; reported as medians."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        for name, value in values.items():
            self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])


async def _publish(env: BenchEnvironment, references: list[str]) -> None:
    """As the order-flow system would: a burst of confirmed publications."""
    settings = Settings(_env_file=None, amqp_url=env.amqp_url)  # type: ignore[call-arg]
    await send_bodies(settings, [cr_stoc_message(OC, {"intervention": r}) for r in references])


async def throughput(env: BenchEnvironment, requests: int, runs: int) -> Figures:
    """N requests of 6 photos of 200 KB: the worker from publication to the last `completed`,
    against the raw loop over the same kind of photos at the same concurrency. The two take
    turns going first, each after the page cache has been written back (`sync`)."""
    figures = Figures()
    for run in range(runs):
        phases = [_raw_phase, _worker_phase] if run % 2 == 0 else [_worker_phase, _raw_phase]
        for phase in phases:
            await env.reset()
            os.sync()
            figures.add(**await phase(env, requests, run))
        figures.add(
            ratio=figures.values["worker_photos_s"][-1] / figures.values["raw_photos_s"][-1]
        )
    return figures


async def _raw_phase(env: BenchEnvironment, requests: int, run: int) -> dict[str, float]:
    references = [f"RAW{run}-{i}:photos=6:size=200k:format=jpeg" for i in range(requests)]
    photos, size, seconds = await download_all(
        env.simulator_url, references, CONCURRENCY, env.photos / "raw"
    )
    return {"raw_photos_s": photos / seconds, "raw_mb_s": size / MB / seconds}


async def _worker_phase(env: BenchEnvironment, requests: int, run: int) -> dict[str, float]:
    worker = env.worker(f"throughput-{run}")
    await worker.ready()
    references = [f"TP{run}-{i}:photos=6:size=200k:format=jpeg" for i in range(requests)]
    started = time.monotonic()
    await _publish(env, references)
    await env.wait_completed(requests)
    seconds = time.monotonic() - started
    worker.stop()
    photos = requests * 6
    return {"worker_photos_s": photos / seconds, "worker_mb_s": photos * 200 * 1024 / MB / seconds}


async def large_photos(env: BenchEnvironment, runs: int) -> Figures:
    """40 photos of 30 MB (10 requests of 4) at the default concurrency: the worker's peak RSS."""
    figures = Figures()
    for run in range(runs):
        await env.reset()
        worker = env.worker(f"memory-{run}")
        await worker.ready()
        baseline = worker.sample().rss
        await _publish(env, [f"BIG{run}-{i}:photos=4:size=30m:format=png" for i in range(10)])
        peak = 0
        while await env.count(COMPLETED) < 10:
            peak = max(peak, worker.sample().rss)
            await asyncio.sleep(0.02)
        sample = worker.sample()
        worker.stop()
        stored = await env.count("SELECT coalesce(sum(size_bytes), 0) FROM photos")
        figures.add(
            peak_rss_mb=max(peak, sample.peak_rss) / 2**20,
            idle_rss_mb=baseline / 2**20,
            stored_mb=stored / 2**20,
        )
    return figures


IDLE = {  # name: (pending requests, seconds before the first is due)
    "idle_10": (10, 0.0),
    "idle_100k": (100_000, 0.0),
    "idle_100k_later": (100_000, 3600.0),
}


async def idle_cost(env: BenchEnvironment, runs: int, window: float) -> dict[str, Figures]:
    """Requests waiting on 202, next attempts spread over an hour: each worker's CPU over
    `window` seconds and its RSS. The three cases run side by side, each with its own
    database and vhost: an idle worker leaves the machine idle enough to be measured apart."""
    figures = {name: Figures() for name in IDLE}
    places = {name: await Place(f"{env.name}_{name}").create() for name in IDLE}
    try:
        for run in range(runs):
            await _idle_run(env, places, run, window, figures)
    finally:
        for place in places.values():
            await place.drop()
    return figures


async def _idle_run(
    env: BenchEnvironment,
    places: dict[str, Place],
    run: int,
    window: float,
    figures: dict[str, Figures],
) -> None:
    for name, (pending, offset) in IDLE.items():
        await places[name].reset()
        await _insert_waiting(places[name], pending, offset)
    workers = {name: env.worker(f"{name}-{run}", places[name]) for name in IDLE}
    for worker in workers.values():
        await worker.ready()
    await asyncio.sleep(5)  # start-up done, the first claims made
    before = {name: worker.sample() for name, worker in workers.items()}
    await asyncio.sleep(window)
    for name, worker in workers.items():
        after = worker.sample()
        polled = await places[name].count("SELECT count(*) FROM request_attempts")
        worker.stop()
        figures[name].add(
            cpu_percent=100 * (after.cpu_seconds - before[name].cpu_seconds) / window,
            rss_mb=after.rss / 2**20,
            polled=polled,
        )


async def _insert_waiting(place: Place, count: int, offset: float) -> None:
    await place.pool.execute(
        """
        INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,
            next_attempt_at, attempts, last_http_status, received_at)
        SELECT gen_random_uuid(), $1, 'IDLE-' || n || ':after=never:retry_after=3600',
            now() + make_interval(secs => $3 + random() * 3600), 1, 202, now()
        FROM generate_series(1, $2) AS n
        """,
        OC,
        count,
        offset,
    )


async def latency(env: BenchEnvironment, samples: int, runs: int) -> Figures:
    """One request at a time: from the partner's first 200 to `completed`."""
    figures = Figures()
    for run in range(runs):
        await env.reset()
        worker = env.worker(f"latency-{run}")
        await worker.ready()
        for i in range(samples):
            await _publish(env, [f"LAT{run}-{i}:photos=6:size=200k:format=jpeg"])
            await env.wait_completed(i + 1)
            await asyncio.sleep(0.05)
        worker.stop()
        rows = await env.pool.fetch(
            "SELECT extract(epoch FROM completed_at - first_ready_at) * 1000 AS ms"
            " FROM photo_requests"
        )
        values = sorted(float(r["ms"]) for r in rows)
        figures.add(p50_ms=statistics.median(values), p95_ms=values[int(0.95 * (len(values) - 1))])
    return figures


async def scaling(env: BenchEnvironment, requests: int, runs: int) -> Figures:
    """The same burst of requests with one worker process and with two, both already running."""
    figures = Figures()
    for run in range(runs):
        for processes in (1, 2):
            await env.reset()
            os.sync()
            workers = [env.worker(f"scale-{run}-{processes}-{n}") for n in range(processes)]
            for worker in workers:
                await worker.ready()
            started = time.monotonic()
            psutil.cpu_percent()  # starts the machine-wide measurement
            await _publish(
                env,
                [
                    f"SC{run}-{processes}-{i}:photos=6:size=200k:format=jpeg"
                    for i in range(requests)
                ],
            )
            await env.wait_completed(requests)
            seconds = time.monotonic() - started
            figures.add(**{f"busy_{processes}": psutil.cpu_percent()})
            for worker in workers:
                worker.stop()
            figures.add(**{f"seconds_{processes}": seconds})
            figures.add(**{f"twice_{processes}": await _done_twice(env, requests)})
            figures.add(**{f"share_{processes}": await _busiest_share(env)})
        figures.add(speedup=figures.values["seconds_1"][-1] / figures.values["seconds_2"][-1])
    return figures


async def _busiest_share(env: BenchEnvironment) -> float:
    """The share of the attempts made by the busiest process (0.5: evenly shared by two)."""
    assert env.pool is not None
    rows = await env.pool.fetch(
        "SELECT worker, count(*) AS n FROM request_attempts GROUP BY worker"
    )
    return max(r["n"] for r in rows) / sum(r["n"] for r in rows)


async def _done_twice(env: BenchEnvironment, requests: int) -> int:
    """Anything done more than once: extra attempts, photo rows or events beyond one each."""
    attempts = await env.count("SELECT count(*) FROM request_attempts")
    photos = await env.count("SELECT count(*) FROM photo_request_photos")
    events = await env.count("SELECT count(*) FROM outbox")
    return (attempts - requests) + (photos - 6 * requests) + (events - requests)
