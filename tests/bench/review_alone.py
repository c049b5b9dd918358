"""The review stage alone: photos/s and CPU per photo (the worker process and its review
processes) against the decode floor, for 200 KB and 4 MB JPEGs.

`.venv/bin/python -m tests.bench.review_alone [--requests 20] [--processes 2] [--distinct 24]`

Makes its own database (migrated) and photo directory; stores `--requests` requests of 6 photos,
queues them and runs a ReviewStage until every one is reviewed (one request first, to start the
processes: not counted). The photos are `--distinct` JPEGs of each size class (scenes of the
simulator, with a camera's grain: about 170 kB at 1600x1200, about 3.8 MB at 4000x3000, 12
megapixels), taken in turn: photo n of the run is JPEG n modulo `--distinct`. With the default 24
and 20 requests, each JPEG is stored 5 or 6 times (the warm-up request included), so each near-reuse
probe finds up to 5 other copies of a photo (the findings name the earlier ones); `--distinct 1`
stores one JPEG under every id, as this benchmark did first: every probe then finds up to 100
earlier photos, a heavier lookup than a real flow's. Each photo row gets a sha256 of its own (the
exact-reuse lookup would otherwise find every earlier copy). The pool is the worker's own
(`open_pool`: no reset query when a connection goes back), and the end is seen from the stage's
`on_reviewed` calls, not by polling. CPU is this process's (the worker's part: the stage's queries
and Python, the pool's threads, the store's reads) plus its review processes' (psutil, read before
they stop), shown apart and summed. The floor is the very same JPEGs, each as many times as the
review decodes it, decoded at the same reduced scale by Pillow alone, in this process. The framing
rules are off (they came after this benchmark; `tests.bench.framing_stage` measures them).
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
import numpy as np
import psutil
from PIL import Image

from tests.bench.readback import _floor
from tests.findings.images import encode, scene
from worker.border import Redactor, Sanitizer
from worker.database.migrations import migrate
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore, open_store
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


# size class: (pixels, grain sigma, JPEG quality), as `tests.bench.readback` makes them
SIZES = {"200 KB": ((1600, 1200), 3, 80), "4 MB": ((4000, 3000), 8, 92)}


def _bodies(size: tuple[int, int], sigma: float, quality: int, count: int) -> list[bytes]:
    """`count` distinct JPEGs: scenes 1 to `count`, one grain (drawn once) added to each."""
    grain = np.random.default_rng(7).normal(0, sigma, (size[1], size[0], 3)).astype(np.int16)
    bodies = []
    for seed in range(1, count + 1):
        pixels = np.asarray(scene(seed, size), dtype=np.int16) + grain
        bodies.append(
            encode(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), quality=quality)
        )
    return bodies


async def _stored(
    pool: asyncpg.Pool, settings: Settings, bodies: list[bytes], requests: int
) -> list[uuid.UUID]:
    """The requests stored (photo n is JPEG n modulo len(bodies)), the first to warm up."""
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
        for k, photo_type in enumerate(TYPES):
            body = bodies[(n * len(TYPES) + k) % len(bodies)]
            photo_id = uuid.uuid4()
            await store_photo(pool, store, message_id, photo_id, photo_type, body, photo_id.bytes)
        stored.append(message_id)
    return stored


async def store_photo(
    pool: asyncpg.Pool,
    store: PhotoStore,
    message_id: uuid.UUID,
    photo_id: uuid.UUID,
    photo_type: str,
    body: bytes,
    hashed: bytes,
) -> None:
    """One JPEG stored and linked to its request; its sha256 is that of `hashed`."""
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
        hashlib.sha256(hashed).hexdigest(),
        key,
    )
    await pool.execute(
        "INSERT INTO photo_request_photos VALUES ($1, 'BNCH', $2)", message_id, photo_id
    )


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


def _cpu(process: psutil.Process) -> tuple[float, float]:
    """CPU seconds so far of this process, and of its children (the review processes)."""
    own = process.cpu_times()
    children = 0.0
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        children += times.user + times.system
    return own.user + own.system, children


async def _run(name: str, bodies: list[bytes], requests: int, processes: int) -> None:
    url = await _database()
    try:
        with tempfile.TemporaryDirectory() as root:
            settings = replace_settings(url, root, processes)
            pool = await open_pool(settings, max_size=8)  # as the worker's own pool
            try:
                warm_up, *measured = await _stored(pool, settings, bodies, requests + 1)
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
                before, wall = _cpu(me), time.perf_counter()
                await _reviewed(pool, stage, published, measured)
                wall, after = time.perf_counter() - wall, _cpu(me)
                stop.set()
                await stage.stop()
                await asyncio.gather(*loops, return_exceptions=True)
            finally:
                await pool.close()
    finally:
        await _drop(url)
    # the very JPEGs the review decoded, in its order (the warm-up request's excepted)
    decoded = [bodies[n % len(bodies)] for n in range(len(TYPES), len(TYPES) * (requests + 1))]
    floor = _floor_cpu(decoded)
    worker, review = ((after[i] - before[i]) / photos * 1000 for i in (0, 1))
    size = sum(map(len, decoded)) / len(decoded) / 1000
    print(
        f"| {name} | {size:.0f} kB | {len(bodies)} | {processes} | {photos} | {photos / wall:.1f}"
        f" | {worker:.2f} | {review:.2f} | {worker + review:.2f} | {floor * 1000:.2f}"
        f" | {(worker + review) / 1000 / floor:.2f} |",
        flush=True,
    )


def _floor_cpu(bodies: list[bytes]) -> float:
    start = time.process_time()
    for body in bodies:
        _floor(body)
    return (time.process_time() - start) / len(bodies)


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


async def main(requests: int, processes: int, distinct: int) -> None:
    print(
        "| photo | mean size | distinct JPEGs | processes | photos | photos/s | CPU ms per photo:"
        " worker process | review processes | both | decode floor CPU ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (size, sigma, quality) in SIZES.items():
        await _run(name, _bodies(size, sigma, quality, distinct), requests, processes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.review_alone", description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=24, help="distinct JPEGs of each size")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.processes, args.distinct))
