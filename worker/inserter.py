"""Inserts new requests in batches: deliveries that arrive together share one INSERT.

A burst of CR_STOC messages (a catch-up after an OC outage) then costs one statement per
network read instead of one per message. Nothing waits on purpose: a batch is flushed as soon as
the event loop has handed over the deliveries it already had, so a lone message is inserted at
once.
"""

from __future__ import annotations

import asyncio
import uuid

from worker import repository
from worker.messages import CrStoc
from worker.repository import Pool


class RequestInserter:
    def __init__(self, pool: Pool, max_batch: int) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._waiting: list[tuple[CrStoc, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def insert(self, request: CrStoc) -> bool:
        """True if the request is new, False if its messageId was already recorded."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the deliveries of the same read join this batch
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            await self._insert(batch)

    async def _insert(self, batch: list[tuple[CrStoc, asyncio.Future[bool]]]) -> None:
        first: dict[uuid.UUID, CrStoc] = {}
        for request, _ in batch:
            first.setdefault(request.message_id, request)  # a repeat within the batch: duplicate
        try:
            new = await repository.insert_requests(self._pool, list(first.values()))
        except Exception as exc:  # every waiter gets the error and decides for its delivery
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for request, future in batch:
            if not future.done():
                is_first = first[request.message_id] is request
                future.set_result(is_first and request.message_id in new)
