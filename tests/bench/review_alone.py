"""The review stage alone: photos/s and CPU per photo (the worker process and its review
processes) against the decode floor, for 200 KB and 4 MB JPEGs.

`.venv/bin/python -m tests.bench.review_alone [--requests 20] [--processes 2]`

Makes its own database (migrated) and photo directory; stores `--requests` requests of 6 photos
(the same JPEG under 6 ids each, which the review decodes one by one), queues them and runs a
ReviewStage until every one is reviewed (one request first, to start the processes: not counted).
Each photo row gets a sha256 of its own (the bytes are the same: the exact-reuse lookup would
otherwise find every earlier photo); the perceptual hashes are all equal, so every review's
near-reuse probes find earlier photos (at most 100 a probe): a heavier lookup than usual. The
pool is the worker's own (`open_pool`: no reset query when a connection goes back), and the end
is seen from the stage's `on_reviewed` calls, not by polling (an earlier version polled every
20 ms through a plain asyncpg pool, and counted that CPU too). CPU is this process's plus
its review processes' (psutil, read before they stop). The floor is the same JPEG decoded at
the same reduced scale by Pillow alone, in this process, as many times. The framing rules are
off (they came after this benchmark; `tests.bench.framing_stage` measures them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
import uuid

import asyncpg
import psutil

from tests.bench.readback import _floor, _photos
from worker.border import Redactor, Sanitizer
from worker.database.migrations import migrate
from worker.observe.metrics import Metrics
from worker.photos.storage import open_store
from worker.resources import open_pool
from worker.review.stage import ReviewStage
from worker.settings import Settings

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TYPES = ("PTO", "PBO_AVANT", "PBO_APRES", "PM_AVANT", "PM_APRES", "PT_PENETRATION_LGT")


async def _database() -> str:
    name = f"bench_review_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


async def _drop(url: str) -> None:
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


async def _stored(
    pool: asyncpg.Pool, settings: Settings, body: bytes, requests: int
) -> list[uuid.UUID]:
    store = open_store(settings)
    stored = []
    for n in range(requests):
        message_id = uuid.uuid4()
        await pool.execute(
            "INSERT INTO photo_requests (message_id, code_oc, status, completed_at,"
            " reference_commande_sous_traitant_oi) VALUES ($1, 'BNCH', 'completed', now(), $2)",
            message_id,
            f"BENCH-{n}",
        )
        for photo_type in TYPES:
            photo_id = uuid.uuid4()
            key = f"BNCH/{photo_id}.jpg"

            async def chunks() -> object:
                yield body

            await store.put(key, chunks(), "image/jpeg")  # type: ignore[arg-type]
            await pool.execute(
                "INSERT INTO photos (code_oc, photo_id, type, mime_type, size_bytes, sha256,"
                " storage_key) VALUES ('BNCH', $1, $2, 'image/jpeg', $3, $4, $5)",
                photo_id,
                photo_type,
                len(body),
                hashlib.sha256(photo_id.bytes).hexdigest(),
                key,
            )
            await pool.execute(
                "INSERT INTO photo_request_photos VALUES ($1, 'BNCH', $2)", message_id, photo_id
            )
        stored.append(message_id)
    return stored


class Published:
    """The stage's `on_reviewed`: counts the reviews that published their event (a request's
    first review does), to see the end without polling the database (its CPU would count)."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


async def _reviewed(
    pool: asyncpg.Pool, stage: ReviewStage, published: Published, ids: list[uuid.UUID]
) -> None:
    published.target += len(ids)
    published.done.clear()
    await pool.execute(
        "INSERT INTO request_reviews (message_id, code_oc) SELECT unnest($1::uuid[]), 'BNCH'",
        ids,
    )
    stage.reviewer.wake()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(published.done.wait(), 600)
    while await pool.fetchval("SELECT count(*) FROM request_reviews WHERE reviewed_at IS NULL"):
        await asyncio.sleep(0.1)  # not expected: every first review publishes


def _cpu(process: psutil.Process) -> float:
    total = process.cpu_times().user + process.cpu_times().system
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _run(name: str, body: bytes, requests: int, processes: int) -> None:
    url = await _database()
    try:
        with tempfile.TemporaryDirectory() as root:
            settings = replace_settings(url, root, processes)
            pool = await open_pool(settings, max_size=8)  # as the worker's own pool
            try:
                warm_up, *measured = await _stored(pool, settings, body, requests + 1)
                photos = len(measured) * len(TYPES)
                me = psutil.Process()
                published = Published()
                stage = ReviewStage(
                    pool,
                    open_store(settings),
                    settings,
                    Metrics(),
                    Sanitizer(Redactor(())),
                    published,
                )
                stop = asyncio.Event()
                loops = stage.loops(stop)
                await _reviewed(pool, stage, published, [warm_up])  # the processes started and warm
                cpu, wall = _cpu(me), time.perf_counter()
                await _reviewed(pool, stage, published, measured)
                wall, cpu = time.perf_counter() - wall, _cpu(me) - cpu
                stop.set()
                await stage.stop()
                await asyncio.gather(*loops, return_exceptions=True)
            finally:
                await pool.close()
    finally:
        await _drop(url)
    floor = _floor_cpu(body, photos)
    print(
        f"| {name} | {len(body) / 1000:.0f} kB | {processes} | {photos} | {photos / wall:.1f}"
        f" | {cpu / photos * 1000:.1f} | {floor * 1000:.1f} | {cpu / photos / floor:.2f} |",
        flush=True,
    )


def _floor_cpu(body: bytes, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        _floor(body)
    return (time.process_time() - start) / count


def replace_settings(url: str, root: str, processes: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        storage_url=f"file://{root}",
        review_processes=processes,
        instance="bench-review",
        # The traits alone, as against the decode floor: the framing rules (OCR of the PTO
        # photo, the pairs compared) are measured by tests.bench.framing_stage.
        pto_reference_pattern="",
        qa_same_spot_min_inliers=0,
    )


async def main(requests: int, processes: int) -> None:
    print(
        "| photo | size | processes | photos | photos/s | CPU ms per photo (worker + review"
        " processes) | decode floor CPU ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, body in _photos().items():
        await _run(name, body, requests, processes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.review_alone", description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.processes))
