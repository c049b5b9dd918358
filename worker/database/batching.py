"""Writes that arrive together share one statement: each caller awaits its own result.

Used for intake (a burst of deliveries becomes one INSERT) and for the rescheduling of attempts
(the polls claimed together, mostly answered 202, are written back by one UPDATE). A batch leaves
after `linger` seconds or when `max_batch` items wait; with no linger, as soon as the event loop
has handed over what it already had.

When a batch fails on one item's data (`isolate` says so: PostgreSQL refused a value), each item
is written again on its own, so that the one poisoned item fails alone and its neighbours go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        max_batch: int,
        linger: float = 0.0,
        isolate: Callable[[Exception], bool] = lambda _: False,
    ) -> None:
        self._write = write
        self._isolate = isolate
        self._max_batch = max_batch
        self._linger = linger
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(self._linger)
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            await self._run(batch)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                for one in batch:
                    await self._run([one])
                return
            # Each caller gets the error and decides for its own item.
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
