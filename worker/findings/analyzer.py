"""Photos decoded off the event loop, in a bounded pool of threads.

At most WORKER_QA_THREADS photos are decoded, or read back from storage, at once: that bounds
both the CPU the checks take from the downloads and the memory they hold. A photo whose body was
kept in hand (up to 512 KiB) is not read again; a larger one is read back once from storage.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import structlog

from worker.findings.imaging import Limits, analyse
from worker.findings.model import PhotoTraits
from worker.photos.catalog import StoredPhoto
from worker.photos.storage import PhotoStore
from worker.settings import Settings

log = structlog.get_logger()


class Analyzer:
    def __init__(self, store: PhotoStore, settings: Settings) -> None:
        self._store = store
        self._limits = Limits(settings.qa_max_decode_pixels, ZoneInfo(settings.qa_timezone))
        self._threads = ThreadPoolExecutor(settings.qa_threads, thread_name_prefix="photo-checks")
        self._slots = asyncio.Semaphore(settings.qa_threads)

    async def traits(self, photo: StoredPhoto, body: bytes | None) -> PhotoTraits:
        """What the image shows; a photo that cannot be checked says why in `error`."""
        async with self._slots:
            if body is None:
                try:
                    body = await self._store.read(photo.storage_key)
                except Exception as exc:
                    return PhotoTraits(error=f"the stored photo could not be read back: {exc}")
            return await self._decode(photo, body)

    async def _decode(self, photo: StoredPhoto, body: bytes) -> PhotoTraits:
        header = (photo.facts.width, photo.facts.height)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, analyse, body, photo.record.mime_type, header, self._limits
            )
        except Exception as exc:
            # A bug or an exhausted machine, not a bad photo: a finding, never a failed request.
            log.error("photo checks failed", photo_id=str(photo.record.id), error=repr(exc))
            return PhotoTraits(error=f"the checks failed: {exc!r}")

    def close(self) -> None:
        """Drop what waits; a decode under way ends on its own (threads cannot be stopped)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
