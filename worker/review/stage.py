"""The review role of a worker process: its process pool and its loops, started and stopped
as one (`worker/service.py` runs it beside ingestion, or alone: WORKER_ROLES)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from worker.border import Sanitizer
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore
from worker.review.processes import Check, Decoders
from worker.review.reviewer import Reviewer
from worker.settings import Settings


class ReviewStage:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: PhotoStore,
        settings: Settings,
        metrics: Metrics,
        sanitizer: Sanitizer,
        on_reviewed: Callable[[], None],
        check: Check | None = None,
    ) -> None:
        self._decoders = Decoders(settings, check) if check else Decoders(settings)
        self._stopped = False
        self.reviewer = Reviewer(
            pool, store, settings, metrics, self._decoders, sanitizer, on_reviewed
        )

    def loops(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.reviewer.run(stop), name="reviewer"),
            asyncio.create_task(self.reviewer.renew_leases(stop), name="review-leases"),
        ]

    async def stop(self) -> None:
        """Reviews under way are given back, then the processes are stopped (once)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self.reviewer.stop()
        finally:
            await asyncio.to_thread(self._decoders.close)
