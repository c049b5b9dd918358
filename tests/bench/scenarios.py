"""Memory, idle cost and latency; each run starts from empty tables, queues and photos."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.environment import COMPLETED, OC, BenchEnvironment, Place
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


async def publish(env: BenchEnvironment, references: list[str]) -> None:
    """As the order-flow system would: a burst of confirmed publications."""
    settings = Settings(_env_file=None, amqp_url=env.amqp_url)  # type: ignore[call-arg]
    await send_bodies(settings, [cr_stoc_message(OC, {"intervention": r}) for r in references])


async def large_photos(env: BenchEnvironment, runs: int) -> Figures:
    """40 photos of 30 MB (10 requests of 4) at the default concurrency: the worker's peak RSS."""
    figures = Figures()
    for run in range(runs):
        await env.reset()
        worker = env.worker(f"memory-{run}")
        await worker.ready()
        baseline = worker.sample().rss
        await publish(env, [f"BIG{run}-{i}:photos=4:size=30m:format=png" for i in range(10)])
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
BEFORE = "idle_100k_before"  # the 100,000 due case, with the baseline checkout's worker


async def idle_cost(
    env: BenchEnvironment, runs: int, window: float, baseline: Path | None = None
) -> dict[str, Figures]:
    """Requests waiting on 202, next attempts spread over an hour: each worker's CPU over
    `window` seconds and its RSS. The three cases run side by side, each with its own
    database and vhost: an idle worker leaves the machine idle enough to be measured apart."""
    cases = IDLE | ({BEFORE: IDLE["idle_100k"]} if baseline is not None else {})
    figures = {name: Figures() for name in cases}
    places = {name: await Place(f"{env.name}_{name}").create() for name in cases}
    try:
        for run in range(runs):
            await _idle_run(env, places, run, window, figures, cases, baseline)
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
    cases: dict[str, tuple[int, float]],
    baseline: Path | None,
) -> None:
    for name, (pending, offset) in cases.items():
        await places[name].reset()
        await _insert_waiting(places[name], pending, offset)
    workers = {
        name: env.worker(f"{name}-{run}", places[name], baseline if name == BEFORE else None)
        for name in cases
    }
    for worker in workers.values():
        await worker.ready()
    await asyncio.sleep(5)  # start-up done, the first claims made
    polls = "SELECT count(*) FROM request_attempts"
    polled = {name: await places[name].count(polls) for name in cases}
    before = {name: worker.sample() for name, worker in workers.items()}
    await asyncio.sleep(window)
    for name, worker in workers.items():
        cpu = worker.sample().cpu_seconds - before[name].cpu_seconds
        rss = worker.sample().rss
        in_window = await places[name].count(polls) - polled[name]
        worker.stop()
        figures[name].add(
            cpu_percent=100 * cpu / window,
            rss_mb=rss / 2**20,
            polled=in_window,
            ms_per_poll=1000 * cpu / max(in_window, 1),
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
            await publish(env, [f"LAT{run}-{i}:photos=6:size=200k:format=jpeg"])
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
