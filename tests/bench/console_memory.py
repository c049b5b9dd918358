"""The console's peak memory while it makes thumbnails of the worst images:
`.venv/bin/python -m tests.bench.console_memory`.

Serves `worker console` as its own process (as deployed), on a scratch database and photo
directory holding, each 4 times over (distinct bytes, so no cache helps): a PNG bomb (9400x9500
in ~1 MB), a truncated 24 MP JPEG, a 27 MP JPEG, and a PNG of 16 MP (the decode limit's size).
Asks for the 16 thumbnails at once, then again (what was kept is answered), while sampling every
10 ms the resident memory of the console and of its thumbnail processes, summed. Prints the
peaks and the Kubernetes limit they must stay under.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

import aiohttp
import psutil
import yaml
from PIL import Image

from tests.bench.environment import Place
from tests.console.seed import noisy_jpeg, png_bomb
from tests.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy/kubernetes/console.yaml"
MIB = 1024 * 1024


def _variant(data: bytes, n: int, fmt: str) -> bytes:
    """The same image with different bytes: a comment (JPEG) or a text chunk (PNG) at the end
    of the header, so that each copy has its own sha256."""
    if fmt == "PNG":
        body = f"copy\x00{n}".encode()
        chunk = len(body).to_bytes(4, "big") + b"tEXt" + body
        chunk += zlib.crc32(b"tEXt" + body).to_bytes(4, "big")
        return data[:33] + chunk + data[33:]  # after the 8-byte signature and the IHDR chunk
    comment = f"copy {n}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def _images() -> list[tuple[str, str, bytes]]:
    big = noisy_jpeg((6000, 4500))
    cut = noisy_jpeg((5600, 4200))
    cut = cut[: len(cut) // 2]
    cap = io.BytesIO()
    Image.linear_gradient("L").resize((4000, 4000)).convert("RGB").save(cap, "PNG")
    kinds = [
        ("bomb", "image/png", png_bomb(), "PNG"),
        ("truncated", "image/jpeg", cut, "JPEG"),
        ("27 MP JPEG", "image/jpeg", big, "JPEG"),
        ("16 MP PNG", "image/png", cap.getvalue(), "PNG"),
    ]
    return [
        (name, mime, _variant(data, n, fmt)) for name, mime, data, fmt in kinds for n in range(4)
    ]


async def _seed(place: Place, photos: Path) -> list[tuple[str, str]]:
    urls = []
    message_id = uuid.uuid4()
    await place.pool.execute(
        "INSERT INTO photo_requests (message_id, code_oc, status, attempts, received_at)"
        " VALUES ($1, 'OCAA', 'completed', 1, now())",
        message_id,
    )
    for name, mime, data in _images():
        photo_id = uuid.uuid4()
        key = f"OCAA/{photo_id}.{'png' if mime == 'image/png' else 'jpg'}"
        (photos / key).parent.mkdir(parents=True, exist_ok=True)
        (photos / key).write_bytes(data)
        width, height = Image.open(io.BytesIO(data)).size
        await place.pool.execute(
            "INSERT INTO photos (code_oc, photo_id, type, mime_type, width, height, size_bytes,"
            " sha256, storage_key) VALUES ('OCAA', $1, 'PTO', $2, $3, $4, $5, $6, $7)",
            photo_id,
            mime,
            width,
            height,
            len(data),
            hashlib.sha256(data).hexdigest(),
            key,
        )
        urls.append((name, f"/photos/OCAA/{photo_id}/thumb"))
    return urls


class Sampler:
    """Peak resident memory of a process and of its children, summed, every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_total = 0
        self.peak_parent = 0
        self.children_at_peak = 0

    def sample(self) -> int:
        parent = self.process.memory_info().rss
        children = self.process.children(recursive=True)
        total = parent
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        self.peak_parent = max(self.peak_parent, parent)
        if total > self.peak_total:
            self.peak_total, self.children_at_peak = total, len(children)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            await asyncio.sleep(0.01)


def _limit() -> str:
    for document in yaml.safe_load_all(MANIFEST.read_text()):
        if document and document["kind"] == "Deployment":
            container = document["spec"]["template"]["spec"]["containers"][0]
            return str(container["resources"]["limits"]["memory"])
    raise AssertionError("no Deployment in the console's manifest")


async def main() -> None:
    place = await Place("console_memory_bench").create()
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        urls = await _seed(place, photos)
        port = free_port()
        env = os.environ | {
            "WORKER_DATABASE_URL": place.dsn,
            "WORKER_STORAGE_URL": f"file://{photos}",
            "WORKER_CONSOLE_PORT": str(port),
            "WORKER_CONSOLE_THUMBNAIL_DIR": str(Path(scratch) / "thumbnails"),
            "WORKER_LOG_FORMAT": "json",
        }
        console = subprocess.Popen(
            [sys.executable, "-m", "worker", "console"],
            env=env,
            cwd=scratch,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.to_thread(wait_for_port, port, 60)
            sampler = Sampler(console.pid)
            idle = sampler.sample()
            stop = asyncio.Event()
            sampling = asyncio.create_task(sampler.run(stop))
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                for wave in ("first", "again"):
                    started = time.monotonic()
                    answers = await asyncio.gather(
                        *(_status(session, base + url) for _, url in urls)
                    )
                    took = time.monotonic() - started
                    by_kind: dict[str, set[int]] = {}
                    for (name, _), status in zip(urls, answers, strict=True):
                        by_kind.setdefault(name, set()).add(status)
                    print(f"{wave}: 16 thumbnails at once in {took:.1f} s: {by_kind}")
            stop.set()
            await sampling
        finally:
            console.terminate()
            console.wait(30)
            await place.drop()
    print(f"idle console: {idle / MIB:.0f} MiB")
    print(
        f"peak, console and thumbnail processes summed: {sampler.peak_total / MIB:.0f} MiB"
        f" ({sampler.children_at_peak} children then); the console alone at most"
        f" {sampler.peak_parent / MIB:.0f} MiB"
    )
    print(f"Kubernetes limit (deploy/kubernetes/console.yaml): {_limit()}")


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


if __name__ == "__main__":
    asyncio.run(main())
