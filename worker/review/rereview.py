"""`worker review`: the current checks run again on stored photos, read back from storage.

The command queues its selection a batch at a time (`requeue.py`) and reviews it itself, with a
review stage of its own (`--processes`, niced and limited as the worker's); running workers with
the review role share the work through the same leases. Only one batch is queued at a time, and
the command pauses between batches, so that new requests' reviews are never far behind.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TextIO

import asyncpg

from worker.border import Redactor, Sanitizer
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore
from worker.review import requeue
from worker.review.requeue import Run, Selection
from worker.review.stage import ReviewStage
from worker.settings import Settings

_BAR = 30


@dataclass(frozen=True)
class Pace:
    batch: int  # requests queued at once
    pause: float  # seconds between two batches


async def rereview(
    pool: asyncpg.Pool,
    store: PhotoStore,
    settings: Settings,
    selection: Selection,
    pace: Pace,
    by: str,
    out: TextIO,
) -> Run:
    run = await requeue.open_run(pool, selection, by)
    total = run.queued + await requeue.left(pool, run)
    verb = f"resuming run {run.id} ({run.queued} queued before)" if run.resumed else "run"
    print(f"worker review: {verb} {run.id}: {selection.key()}, {total} request(s)", file=out)
    metrics = Metrics()
    stage = ReviewStage(pool, store, settings, metrics, Sanitizer(Redactor(())), lambda: None)
    stop = asyncio.Event()
    loops = stage.loops(stop)
    started = time.monotonic()
    try:
        while ids := await requeue.queue_batch(pool, run, pace.batch):
            while await requeue.waiting(pool, ids):
                _check_alive(loops)
                stage.reviewer.wake()
                await asyncio.sleep(0.5)
            await requeue.note_changed(
                pool, run, await requeue.changed_since(pool, ids, run.started_at)
            )
            _progress(run, total, started, _photos(metrics), out)
            if pace.pause:
                await asyncio.sleep(pace.pause)
        await requeue.finish(pool, run)
    finally:
        stop.set()
        await stage.stop()
        await asyncio.gather(*loops, return_exceptions=True)
    print(
        f"worker review: run {run.id} done: {run.queued} request(s) reviewed again with the"
        f" current checks, {run.changed} with changed findings (photos.reviewed published again)",
        file=out,
    )
    return run


def _check_alive(loops: list[asyncio.Task[None]]) -> None:
    for loop in loops:
        if loop.done():
            loop.result()  # raises what stopped it
            raise RuntimeError(f"the {loop.get_name()} loop stopped")


def _photos(metrics: Metrics) -> float:
    return sum(
        sample.value
        for family in metrics.photos_reviewed.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def _progress(run: Run, total: int, started: float, photos: float, out: TextIO) -> None:
    share = run.queued / total if total else 1.0
    filled = round(share * _BAR)
    rate = photos / max(time.monotonic() - started, 1e-6)
    print(
        f"[{'#' * filled}{'.' * (_BAR - filled)}] {run.queued}/{total} requests,"
        f" {run.changed} changed, {rate:.1f} photos/s read back and checked here",
        file=out,
        flush=True,
    )
