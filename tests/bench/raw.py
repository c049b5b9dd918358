"""The raw limit: the same downloads with a bare aiohttp loop into the same kind of store, with
no broker and no database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp

from tests.bench.environment import TOKEN
from worker.photos.storage import open_store
from worker.settings import Settings

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


async def download_all(
    base_url: str, references: list[str], concurrency: int, directory: Path
) -> tuple[int, int, float]:
    """Photos and bytes stored, and the seconds it took, `concurrency` requests at a time."""
    store = open_store(Settings(_env_file=None, storage_url=f"file://{directory}"))  # type: ignore[call-arg]
    gate = asyncio.Semaphore(concurrency)
    counts = [0, 0]

    async def one(session: aiohttp.ClientSession, reference: str) -> None:
        async with gate:
            records = await _get_json(session, f"{base_url}/intervention/{reference}/photos")
            for record in records:
                url = f"{base_url}/photo/{record['id']}"
                async with session.get(url, headers=_headers()) as response:
                    key = f"RAW/{record['id']}.{_EXTENSIONS[record['mimeType']]}"
                    await store.put(
                        key, response.content.iter_chunked(64 * 1024), record["mimeType"]
                    )
                counts[0] += 1
                counts[1] += record["size"]

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, ref) for ref in references))
    return counts[0], counts[1], time.monotonic() - started


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
