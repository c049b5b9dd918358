"""The raw limit: the same downloads with a bare aiohttp loop into the same kind of store, with
no broker and no database. Each photo is hashed (sha256) as it arrives, then, in a thread, written
to a temporary file, fsynced, renamed into place and its directory fsynced: durable, as the
worker's store is. The write is the textbook one, not the worker's code, so that making the
worker's cheaper does not move the reference."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import aiohttp

from tests.bench.environment import TOKEN

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


async def download_all(
    base_url: str, references: list[str], concurrency: int, directory: Path
) -> tuple[int, int, float]:
    """Photos and bytes stored, and the seconds it took, `concurrency` requests at a time."""
    gate = asyncio.Semaphore(concurrency)
    counts = [0, 0]
    digests: list[str] = []
    (directory / "RAW").mkdir(parents=True, exist_ok=True)

    async def one(session: aiohttp.ClientSession, reference: str) -> None:
        async with gate:
            records = await _get_json(session, f"{base_url}/intervention/{reference}/photos")
            for record in records:
                url = f"{base_url}/photo/{record['id']}"
                digest = hashlib.sha256()
                chunks = []
                async with session.get(url, headers=_headers()) as response:
                    response.raise_for_status()
                    async for chunk in response.content.iter_any():
                        digest.update(chunk)
                        chunks.append(chunk)
                path = directory / f"RAW/{record['id']}.{_EXTENSIONS[str(record['mimeType'])]}"
                await asyncio.to_thread(_write, path, b"".join(chunks))
                digests.append(digest.hexdigest())
                counts[0] += 1
                counts[1] += int(str(record["size"]))

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, ref) for ref in references))
    return counts[0], counts[1], time.monotonic() - started


def _write(path: Path, body: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        file.write(body)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _get_json(session: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    async with session.get(url, headers=_headers()) as response:
        response.raise_for_status()
        records: list[dict[str, object]] = json.loads(await response.read())
        return records


def _headers() -> dict[str, str]:
    return {
        "X-Request-Id": str(uuid.uuid4()),
        "X-Client-Id": "OIBN",
        "Authorization": f"Bearer {TOKEN}",
    }
