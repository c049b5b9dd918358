"""Writes that arrive together share one call; a poisoned item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from worker.database.batching import Batcher


class Poisoned(Exception):
    pass


async def test_items_submitted_together_share_one_write() -> None:
    calls: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        calls.append(items)
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(write, max_batch=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert calls == [[0, 1, 2, 3, 4]]


async def test_a_poisoned_item_fails_alone_when_told_to_isolate() -> None:
    async def write(items: list[int]) -> list[int]:
        if 3 in items:
            raise Poisoned(f"refused {items}")
        return items

    batcher: Batcher[int, int] = Batcher(
        write, max_batch=100, isolate=lambda exc: isinstance(exc, Poisoned)
    )
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert results[4:] == [4, 5]
    assert isinstance(results[3], Poisoned)
    assert str(results[3]) == "refused [3]"


async def test_other_errors_fail_the_whole_batch() -> None:
    async def write(items: list[int]) -> list[int]:
        raise ConnectionError("database down")

    batcher: Batcher[int, int] = Batcher(
        write, max_batch=100, isolate=lambda exc: isinstance(exc, Poisoned)
    )
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


@pytest.mark.parametrize(
    ("sqlstate", "data"), [("22021", True), ("23514", True), ("54000", True), ("08006", False)]
)
def test_data_errors_are_told_from_outages(sqlstate: str, data: bool) -> None:
    import asyncpg

    from worker.observe.failures import is_data_error

    error = asyncpg.PostgresError.new({"C": sqlstate, "M": "x", "S": "ERROR"})
    assert is_data_error(error) is data
    assert is_data_error(ConnectionError()) is False
