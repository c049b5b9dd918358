"""What the review stage pays to read each photo back from storage, against what it pays to
check it: `.venv/bin/python -m tests.bench.readback [--photos 100]`.

Writes JPEGs of about 200 KB (1600x1200) and 4 MB (4000x3000, 12 megapixels) to a local file store
and, with `--s3 URL` (e.g. a moto_server), to an S3 bucket; then reads each back with the
worker's PhotoStore.read and times it (wall, and this process's CPU), and times the check itself
(decoding.check, in this process) against the decode floor (the same JPEG decoded at the same
reduced scale by Pillow alone, nothing else), and the trip of the body to a pebble process and
back (a function that only takes its length). Medians per photo.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial

import numpy as np
from pebble import ProcessPool
from PIL import Image

from tests.findings.images import encode, scene
from worker.findings.imaging import ANALYSIS_SIDE
from worker.photos.storage import PhotoStore, open_store
from worker.review.decoding import check
from worker.settings import Settings


def _photos() -> dict[str, bytes]:
    return {
        "200 KB": encode(_grainy(scene(1, (1600, 1200)), 3), quality=80),
        "4 MB": encode(_grainy(scene(2, (4000, 3000)), 8), quality=92),
    }


def _grainy(image: Image.Image, sigma: float) -> Image.Image:
    """A camera's sensor noise: what makes real photos as large as they are."""
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(7).normal(0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


async def _measure(store: PhotoStore, body: bytes, count: int) -> tuple[float, float]:
    keys = [f"BENCH/{uuid.uuid4()}.jpg" for _ in range(count)]

    async def one() -> bytes:
        yield body

    for key in keys:
        await store.put(key, one(), "image/jpeg")  # type: ignore[arg-type]
    walls, cpus = [], []
    for key in keys:
        wall, cpu = time.perf_counter(), time.process_time()
        read = await store.read(key)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert len(read) == len(body)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def _timed(work: Callable[[], object], count: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def _floor(body: bytes) -> None:
    """Pillow alone: the decode the check makes (grey, DCT-scaled to >= 512 px), nothing else."""
    with Image.open(io.BytesIO(body)) as image:
        scale = next((s for s in (8, 4, 2) if max(image.size) // s >= ANALYSIS_SIDE), 1)
        image.draft("L", (-(-image.width // scale), -(-image.height // scale)))
        image.load()


def _trip_cost(body: bytes, count: int) -> tuple[float, float]:
    """The body to a pool process and its answer back: what isolation adds per photo."""
    with ProcessPool(1, context=multiprocessing.get_context("spawn")) as pool:
        pool.schedule(len, args=(b"",)).result()  # started
        return _timed(lambda: pool.schedule(len, args=(body,)).result(), count)


async def main(count: int, s3: str | None) -> None:
    photos = _photos()
    with tempfile.TemporaryDirectory() as root:
        stores = {"file": open_store(Settings(_env_file=None, storage_url=f"file://{root}"))}  # type: ignore[call-arg]
        if s3:
            endpoint, bucket = s3.rsplit("/", 1)
            stores["s3 (moto)"] = open_store(
                Settings(  # type: ignore[call-arg]
                    _env_file=None,
                    storage_url=f"s3://{bucket}/bench",
                    aws_endpoint_url=endpoint,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                    aws_region="us-east-1",
                )
            )
        print(
            "| photo | size | store | read back: wall ms | read back: CPU ms"
            " | check: wall / CPU ms | decode floor: wall / CPU ms | trip to a process: wall /"
            " CPU here ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, body in photos.items():
            n = min(count, 30)
            check_wall, check_cpu = _timed(
                partial(check, body, "image/jpeg", (None, None), 16_000_000, "Europe/Paris"), n
            )
            floor_wall, floor_cpu = _timed(partial(_floor, body), n)
            trip_wall, trip_cpu = _trip_cost(body, n)
            for store_name, store in stores.items():
                wall, cpu = await _measure(store, body, count)
                print(
                    f"| {name} | {len(body) / 1000:.0f} kB | {store_name} | {wall:.2f} | {cpu:.2f}"
                    f" | {check_wall:.1f} / {check_cpu:.1f} | {floor_wall:.1f} / {floor_cpu:.1f}"
                    f" | {trip_wall:.2f} / {trip_cpu:.2f} |"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.readback", description=__doc__)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument(
        "--s3", help="endpoint/bucket of an S3 server, e.g. http://127.0.0.1:5000/b"
    )
    args = parser.parse_args()
    asyncio.run(main(args.photos, args.s3))
