"""The review loop: claims queued requests, checks their photos in the process pool, writes
each request's review when its last photo is checked.

At most `review_processes` photos are decoded at once, and twice that many bodies are held in
memory (read ahead from storage while the processes work), besides each request's AVANT/APRES
bodies, kept until its pairs are compared. Each request's photos are checked side by side; a
request is written as soon as its own photos are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial

import asyncpg
import structlog

from worker.border import Sanitizer
from worker.findings.model import Finding, PhotoTraits
from worker.findings.requests import CHECKS_VERSION, decoded, row_view
from worker.observe.failures import report_failure
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore
from worker.review import queue
from worker.review.framing import PAIR_TYPES, Compared, compare_pairs, pair_figures, read_label
from worker.review.processes import Decoders, Failure
from worker.review.queue import ReviewClaim
from worker.review.record import write_review
from worker.review.spent import CpuSpent
from worker.settings import Settings

log = structlog.get_logger()
_GIVE_UP_AFTER = 2  # crashes or overruns of one photo's check
_YIELD_AT_MOST = 30.0  # seconds of ingestion before the review goes on beside it, slowly


class LeaseLost(Exception):
    """Another reviewer holds the request now."""


class Reviewer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: PhotoStore,
        settings: Settings,
        metrics: Metrics,
        decoders: Decoders,
        sanitizer: Sanitizer,
        on_reviewed: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._decoders = decoders
        self._clean = sanitizer
        self._on_reviewed = on_reviewed
        self._bodies = asyncio.Semaphore(2 * decoders.size)
        self._capacity = max(2, decoders.size)
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        # True while this process's ingestion is downloading photos (`worker/service.py`): the
        # review then starts nothing new, so that ingestion goes first in the process and on
        # the machine (its processes are niced, but on two cores a review beside a burst still
        # cost it 45 % of its rate). Past `_YIELD_AT_MOST` of that, it takes one request at a
        # time, one photo at a time: a steady load does not starve it.
        self.yield_to: Callable[[], bool] = lambda: False
        self._yielding_since: float | None = None
        self._trickle = asyncio.Semaphore(1)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.clear()
            capacity = self._room()
            try:
                claims = []
                if len(self._running) < capacity:
                    claims = await queue.claim(
                        self._pool,
                        capacity - len(self._running),
                        self._settings.instance,
                        self._settings.lease_seconds,
                    )
                failures = 0
            except Exception as exc:
                report_failure(self._metrics, exc, "claiming reviews failed; will retry")
                claims, failures = [], failures + 1
            for review_claim in claims:
                task = asyncio.create_task(self._review(review_claim))
                self._running[review_claim.lease_id] = task
                task.add_done_callback(partial(self._done, review_claim.lease_id))
            if not claims or len(self._running) >= capacity:
                pause = min(self._settings.poll_seconds * 2**failures, 30.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self._wake, stop), pause)

    def _room(self) -> int:
        """How many requests may be under review now."""
        if not self.yield_to():
            self._yielding_since = None
            return self._capacity
        now = time.monotonic()
        if self._yielding_since is None:
            self._yielding_since = now
        return 0 if now - self._yielding_since < _YIELD_AT_MOST else 1

    def _done(self, lease_id: uuid.UUID, _: object = None) -> None:
        self._running.pop(lease_id, None)
        self._wake.set()

    async def renew_leases(self, stop: asyncio.Event) -> None:
        every = self._settings.lease_seconds / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            held = list(self._running)
            if not held or stop.is_set():
                continue
            try:
                kept = await queue.renew(self._pool, held, self._settings.lease_seconds)
            except Exception as exc:
                report_failure(self._metrics, exc, "renewing review leases failed")
                continue
            for lease_id in set(held) - kept:
                log.warning("review lease lost; left to the reviewer that holds it now")
                task = self._running.get(lease_id)
                if task is not None:
                    task.cancel()

    async def stop(self) -> None:
        """Cut the reviews under way and give them back: a replica or a restart redoes them."""
        tasks = list(self._running.values())
        leases = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if leases:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.release(self._pool, leases), 2.0)

    async def _review(self, claim: ReviewClaim) -> None:
        started = time.monotonic()
        logger = log.bind(message_id=str(claim.message_id), code_oc=claim.code_oc)
        try:
            outcome = await self._review_one(claim)
        except LeaseLost:
            self._metrics.lease_lost.inc()
            logger.warning("review lease lost; left to the reviewer that holds it now")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The lease runs out and another claim tries again; the claim count says how often.
            report_failure(self._metrics, exc, "a review failed; it will be tried again")
            return
        logger.info("request reviewed", duration=round(time.monotonic() - started, 3), **outcome)

    async def _review_one(self, claim: ReviewClaim) -> dict[str, object]:
        request = await queue.request_of(self._pool, claim)
        if request is None:
            return {"outcome": "purged"}
        rows = await queue.photos_of(self._pool, claim)
        todo = [row for row in rows if not row["fresh"]]
        kept: dict[uuid.UUID, bytes] = {}  # bodies the same-spot check reads again
        spent = CpuSpent(self._metrics.review_check_cpu)
        measured = dict(
            zip(
                (row["photo_id"] for row in todo),
                await asyncio.gather(*(self._traits(claim, row, kept, spent) for row in todo)),
                strict=True,
            )
        )
        photos = [row_view(row, measured.get(row["photo_id"])) for row in rows]
        keys = {row["photo_id"]: row["storage_key"] for row in rows}
        compared: list[Compared] = []
        errors: list[Finding] = []
        if self._settings.qa_same_spot_min_inliers:
            compared, errors = await compare_pairs(
                self._decoders, self._store, photos, keys, kept, spent
            )
        found = [*await decoded(self._pool, request, photos, self._settings, compared), *errors]
        figures = pair_figures(compared, self._settings.qa_same_spot_min_inliers)
        reviewed = await write_review(
            self._pool, self._clean, claim, request, measured, found, figures
        )
        if reviewed is None:
            raise LeaseLost
        metrics = self._metrics
        metrics.photos_reviewed.labels(claim.code_oc).inc(len(measured))
        metrics.reviews.labels("changed" if reviewed.event else "unchanged").inc()
        for finding in found:
            metrics.findings.labels(claim.code_oc, finding.kind).inc()
        if reviewed.first:
            lag = (reviewed.reviewed_at - reviewed.stored_at).total_seconds()
            metrics.review_lag.observe(max(0.0, lag))
        if reviewed.event is not None:
            self._on_reviewed()
        return {
            "photos": len(rows),
            "decoded": len(measured),
            "findings": len(reviewed.findings),
            "published": reviewed.event is not None,
            "checks": CHECKS_VERSION,
            **spent.summary(),
        }

    async def _traits(
        self,
        claim: ReviewClaim,
        row: asyncpg.Record,
        kept: dict[uuid.UUID, bytes],
        spent: CpuSpent,
    ) -> PhotoTraits:
        photo_id: uuid.UUID = row["photo_id"]
        interrupted = claim.claims - 1
        if interrupted >= self._settings.max_interruptions:
            return PhotoTraits(
                error=f"its review was interrupted {interrupted} times (the worker stopped or"
                " lost its lease): not checked"
            )
        failures = claim.failures.get(str(photo_id), 0)
        async with self._bodies, self._turn():
            try:
                body = await self._store.read(row["storage_key"])
            except Exception as exc:
                self._metrics.errors.labels("storage").inc()
                return PhotoTraits(error=f"the stored photo could not be read back: {exc}")
            self._metrics.review_read_bytes.inc(len(body))
            if row["type"] in PAIR_TYPES and self._settings.qa_same_spot_min_inliers:
                kept[row["photo_id"]] = body
            header = (row["width"], row["height"])
            while True:
                result = await self._decoders.traits(body, row["mime_type"], header, spent)
                if isinstance(result, PhotoTraits):
                    if row["type"] == "PTO" and self._settings.pto_reference_pattern:
                        return await read_label(self._decoders, body, result, spent)
                    return result
                failures = await self._failed(claim, photo_id, result)
                if failures >= _GIVE_UP_AFTER:
                    return PhotoTraits(
                        error=f"the checks of this photo {result.detail}, {failures} times:"
                        " not checked"
                    )

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """One photo at a time while ingestion has work; as many as the pool takes otherwise."""
        if not self.yield_to():
            yield
            return
        async with self._trickle:
            yield

    async def _failed(self, claim: ReviewClaim, photo_id: uuid.UUID, failure: Failure) -> int:
        self._metrics.review_failures.labels(failure.kind).inc()
        log.warning(
            "a photo's check did not end; its process is replaced",
            message_id=str(claim.message_id),
            photo_id=str(photo_id),
            failure=failure.detail,
        )
        count = await queue.note_failure(self._pool, claim.lease_id, photo_id)
        if count is None:
            raise LeaseLost
        return count


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
