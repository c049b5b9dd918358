"""Ingestion's own cost (`python -m tests.bench --only ingestcpu`): the CPU a worker spends per
photo with its photo checks off, against the bare loop (`raw.py`: hash, write, fsync) over the
same burst, at an OC concurrency of 4 and of 16.

Each run sends the burst (N requests of 6 photos of 200 KB) to the bare loop and to a worker
(WORKER_QA_ENABLED=false: ingestion alone), taking turns going first, each after `sync` and from
empty tables, queues and photos. CPU is user + system time of the process (the worker's, from
outside; the bench's own while it runs the bare loop), from publication to the last
`completed`: the worker's includes intake, the claims, the outcome statements and the relay.

Each side writes into a directory of its own, and the photos are deleted only when every run is
done: on this machine's ext4 (without a journal) a file created within a minute of thousands of
deletions pays for a scan past every recently deleted inode (`recently_deleted` in the kernel's
inode allocator: from 0.1 % to 12 % of a process's CPU in `perf` here, with what was deleted
in the minutes before), which is not the cost of storing a photo.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil

from tests.bench.environment import CONCURRENCY, BenchEnvironment
from tests.bench.raw import download_all
from tests.bench.scenarios import Figures, publish

PHOTOS = 6  # per request
LEVELS = (4, 16)  # the OC's concurrency, in the partners file and the bare loop alike
TARGET = 1.25  # the worker's CPU per photo at most this many times the bare loop's (issue 18)
Row = tuple[str, str, str, str]


async def measure(
    env: BenchEnvironment, requests: int, runs: int, baseline: Path | None = None
) -> Figures:
    """With a `baseline` checkout, its worker takes its turn too: "before" from the same runs."""
    figures = Figures()
    stores = env.root / "ingestcpu"
    sides = ["bare", "worker", *(["before"] if baseline is not None else [])]
    try:
        for level in LEVELS:
            env.set_concurrency(level)
            for run in range(runs):
                for side in sides if run % 2 == 0 else sides[::-1]:
                    await env.reset()
                    os.sync()
                    store = stores / f"{side}-{level}-{run}"
                    if side == "bare":
                        figures.add(**await _bare(env, requests, level, run, store))
                    else:
                        code = baseline if side == "before" else None
                        figures.add(**await _worker(env, requests, level, run, store, side, code))
                bare = figures.values[f"bare_cpu_ms_{level}"][-1]
                for side in sides[1:]:
                    worker = figures.values[f"{side}_cpu_ms_{level}"][-1]
                    figures.add(**{f"{side}_ratio_{level}": worker / bare})
    finally:
        env.set_concurrency(CONCURRENCY)
        shutil.rmtree(stores, ignore_errors=True)
    return figures


async def _bare(
    env: BenchEnvironment, requests: int, level: int, run: int, store: Path
) -> dict[str, float]:
    references = [
        f"BARE{level}-{run}-{i}:photos={PHOTOS}:size=200k:format=jpeg" for i in range(requests)
    ]
    before = _own_cpu()
    photos, _, seconds = await download_all(env.simulator_url, references, level, store)
    cpu = _own_cpu() - before
    return {f"bare_cpu_ms_{level}": 1000 * cpu / photos, f"bare_photos_s_{level}": photos / seconds}


async def _worker(
    env: BenchEnvironment,
    requests: int,
    level: int,
    run: int,
    store: Path,
    side: str,
    code: Path | None,
) -> dict[str, float]:
    worker = env.worker(
        f"ingestcpu-{side}-{level}-{run}",
        code=code,
        qa_enabled="false",
        storage_url=f"file://{store}",
    )
    await worker.ready()
    references = [
        f"ING{side}{level}-{run}-{i}:photos={PHOTOS}:size=200k:format=jpeg" for i in range(requests)
    ]
    before = worker.sample().cpu_seconds
    started = time.monotonic()
    await publish(env, references)
    await env.wait_completed(requests)
    seconds = time.monotonic() - started
    cpu = worker.sample().cpu_seconds - before
    worker.stop()
    photos = requests * PHOTOS
    return {
        f"{side}_cpu_ms_{level}": 1000 * cpu / photos,
        f"{side}_photos_s_{level}": photos / seconds,
    }


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def rows(results: dict[str, Figures], requests: int) -> list[Row]:
    if (f := results.get("ingestcpu")) is None:
        return []
    out: list[Row] = []
    for level in LEVELS:
        ratio = f.median(f"worker_ratio_{level}")
        runs = ", ".join(f"{r:.2f}" for r in f.values[f"worker_ratio_{level}"])
        out.append(
            (
                f"ingestion's CPU per photo, checks off, against the fsyncing bare loop,"
                f" concurrency {level} ({requests} x 6 x 200 KB)",
                f"worker {f.median(f'worker_cpu_ms_{level}'):.2f} ms, bare loop"
                f" {f.median(f'bare_cpu_ms_{level}'):.2f} ms: {ratio:.2f} x (runs: {runs});"
                f" {f.median(f'worker_photos_s_{level}'):.0f} / "
                f"{f.median(f'bare_photos_s_{level}'):.0f} photos/s",
                f"within {TARGET} x",
                "yes" if ratio <= TARGET else "no",
            )
        )
        if f"before_ratio_{level}" in f.values:
            runs = ", ".join(f"{r:.2f}" for r in f.values[f"before_ratio_{level}"])
            out.append(
                (
                    f"the same, the --baseline checkout's worker, concurrency {level}",
                    f"worker {f.median(f'before_cpu_ms_{level}'):.2f} ms:"
                    f" {f.median(f'before_ratio_{level}'):.2f} x (runs: {runs});"
                    f" {f.median(f'before_photos_s_{level}'):.0f} photos/s",
                    "",
                    "",
                )
            )
    return out
