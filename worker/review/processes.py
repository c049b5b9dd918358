"""The pool of review processes (pebble): bounded in number, memory, time per photo and CPU
priority, and refilled when one of them dies.

A photo whose check kills its process (a native crash, SIGKILL, the memory cap) or overruns its
time limit comes back as a `Failure`; the reviewer counts it in the review row and tries again,
and after two failures gives the photo a qa_error finding instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import structlog
from pebble import ProcessExpired, ProcessPool

from worker.findings.model import LabelReading, PhotoTraits, SpotMatch
from worker.review import decoding
from worker.review.spent import CpuSpent
from worker.settings import MIB, Settings

log = structlog.get_logger()
Check = Callable[[bytes, str, tuple[int | None, int | None], int, str], PhotoTraits]


@dataclass(frozen=True)
class Failure:
    """The check of a photo did not end on its own: `kind` is crashed, overran or memory."""

    kind: str
    detail: str


class Decoders:
    """Processes started with `spawn`: a fork of the worker would copy its event loop, its
    connections and obstore's threads into each child."""

    def __init__(self, settings: Settings, check: Check = decoding.check) -> None:
        self._settings = settings
        self._check = check
        self.size = settings.review_processes
        self._pool = ProcessPool(
            max_workers=self.size,
            initializer=decoding.limit_process,
            initargs=(settings.review_memory_mb * MIB, settings.review_nice),
            context=multiprocessing.get_context("spawn"),
        )

    async def traits(
        self,
        body: bytes,
        mime_type: str,
        header: tuple[int | None, int | None],
        spent: CpuSpent,
    ) -> PhotoTraits | Failure:
        settings = self._settings
        args = (body, mime_type, header, settings.qa_max_decode_pixels, settings.qa_timezone)
        try:
            result: PhotoTraits | Failure = await self._run("traits", self._check, args, spent)
        except Exception as exc:
            # A bug, not a bad photo: say so on the photo rather than trying again for ever.
            log.error("photo check failed", error=repr(exc))
            return PhotoTraits(error=f"the checks failed: {exc!r}")
        return result

    async def label(self, body: bytes, spent: CpuSpent) -> LabelReading | Failure | None:
        """The PTO reference read on this photo (`decoding.read_label`)."""
        settings = self._settings
        args = (
            body,
            settings.pto_reference_pattern,
            settings.qa_pto_min_confidence,
            settings.qa_ocr_threads,
        )
        result: LabelReading | Failure | None = await self._run(
            "pto_reference", decoding.read_label, args, spent
        )
        return result

    async def spot(self, before: bytes, after: bytes, spent: CpuSpent) -> SpotMatch | Failure:
        """How far an AVANT/APRES pair agrees on one spot (`decoding.compare_spot`)."""
        result: SpotMatch | Failure = await self._run(
            "same_spot", decoding.compare_spot, (before, after), spent
        )
        return result

    async def _run(
        self, name: str, function: Callable[..., Any], args: tuple[Any, ...], spent: CpuSpent
    ) -> Any:
        """`function(*args)` in a process of the pool, its CPU time added to `spent` as check
        `name`; what killed or stopped it, as a Failure. Any other exception is the function's
        own, raised here."""
        settings = self._settings
        future = self._pool.schedule(
            decoding.timed, args=(function, *args), timeout=settings.review_timeout_seconds
        )
        try:
            result, seconds = await asyncio.wrap_future(future)
        except FutureTimeout:
            limit = settings.review_timeout_seconds
            return Failure("overran", f"overran its time limit ({limit:g} s)")
        except ProcessExpired as exc:
            return Failure("crashed", f"crashed (its process ended with code {exc.exitcode})")
        except MemoryError:
            limit = settings.review_memory_mb
            return Failure("memory", f"ran out of its memory limit ({limit} MB)")
        spent.add(name, seconds)
        return result

    def close(self) -> None:
        """Stop every process now: a review cut short is taken up again from its row."""
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=5)
