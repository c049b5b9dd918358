"""One attempt at a request: ask for the metadata, fetch the photos, decide what happens next."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import asyncpg
import structlog

from worker.attempt import outcomes
from worker.attempt.outcomes import AttemptReport, Rescheduling
from worker.attempt.verdicts import Final, Outcome, Refusal, Retry, judge_metadata
from worker.database.batching import Batcher
from worker.observe.metrics import Metrics
from worker.partners.client import METADATA_MAX_BYTES, Answer, PartnerClient, PartnerUnreachable
from worker.partners.config import choose_query, format_duration
from worker.partners.credentials import TokenRefused, TokenUnavailable
from worker.partners.records import MalformedAnswer, PhotoRecord, parse_photo_list
from worker.photos import catalog
from worker.photos.catalog import PhotoSummary, StoredPhoto
from worker.photos.fetch import PhotoFetcher, PhotoNotFound, PhotoUnavailable
from worker.photos.inspector import PhotoRefused
from worker.photos.storage import PhotoStore, StorageError
from worker.schedule.backoff import backoff_delay, next_attempt, parse_retry_after
from worker.schedule.claims import Claim
from worker.settings import Settings

log = structlog.get_logger()


@dataclass(frozen=True)
class AttemptContext:
    """What every attempt of this process shares."""

    pool: asyncpg.Pool
    store: PhotoStore
    settings: Settings
    metrics: Metrics
    on_finished: Callable[[], None]
    reschedules: Batcher[Rescheduling, bool]
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class _Progress:
    """What this attempt learned so far; written with its outcome in one transaction."""

    started_at: datetime
    operation: str | None = None
    reference: str | None = None
    answer: Answer | None = None
    ready_at: datetime | None = None
    stored: list[StoredPhoto] = field(default_factory=list)
    known: dict[uuid.UUID, PhotoSummary] = field(default_factory=dict)
    listed: bool = False

    def report(
        self, outcome: str, error: str | None, refusals: tuple[Refusal, ...] = ()
    ) -> AttemptReport:
        answer = self.answer
        return AttemptReport(
            started_at=self.started_at,
            operation=self.operation,
            reference=self.reference,
            http_status=answer.status if answer else None,
            request_id=answer.request_id if answer else None,
            outcome=outcome,
            error=error,
            ready_at=self.ready_at,
            stored=tuple(self.stored),
            known=tuple(self.known.values()),
            listed=self.listed,
            refusals=refusals,
        )


async def run_attempt(ctx: AttemptContext, client: PartnerClient, claim: Claim) -> str:
    """Runs the attempt and records its outcome; returns the outcome for the summary line."""
    progress = _Progress(started_at=datetime.now(UTC))
    outcome = await _attempt(ctx, client, claim, progress)
    if isinstance(outcome, Retry):
        return await _retry_or_give_up(ctx, client, claim, progress, outcome)
    return await _finish(ctx, claim, progress, outcome)


async def _attempt(
    ctx: AttemptContext, client: PartnerClient, claim: Claim, progress: _Progress
) -> Outcome:
    query, reference = choose_query(client.partner.config.query, claim.references)
    progress.operation, progress.reference = query, reference
    structlog.contextvars.bind_contextvars(query=query, reference=reference)
    try:
        answer = await client.fetch_metadata(query, reference)
    except (PartnerUnreachable, TokenUnavailable) as exc:
        return Retry("transient", str(exc))
    except TokenRefused as exc:
        return Final("failed", str(exc))
    progress.answer = answer
    structlog.contextvars.bind_contextvars(x_request_id=str(answer.request_id))
    verdict = judge_metadata(answer)
    if verdict != "photos":
        return verdict
    progress.ready_at = datetime.now(UTC)
    if len(answer.body) > METADATA_MAX_BYTES:
        return Final("failed", f"metadata answer larger than {METADATA_MAX_BYTES} bytes")
    try:
        listing = parse_photo_list(answer.body)
    except MalformedAnswer as exc:
        return Final("failed", str(exc))
    refusals = [Refusal(r.photo_id, "invalid_record", r.detail) for r in listing.refusals]
    return await _collect(ctx, client, claim, progress, listing.records, refusals)


async def _collect(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: _Progress,
    records: list[PhotoRecord],
    refusals: list[Refusal],
) -> Outcome:
    """Download every listed photo not stored yet; decide once all have been tried.

    A photo's write to storage runs while the next one downloads (one write ahead at most): on
    S3 a PUT takes tens of milliseconds that would otherwise add up photo after photo.
    """
    known = await catalog.known_photos(ctx.pool, claim.code_oc, [r.id for r in records])
    progress.known, progress.listed = known, True
    fetcher = PhotoFetcher(ctx.store, client, ctx.settings.photo_max_bytes, ctx.metrics)
    waiting: list[Retry] = []
    writes: list[tuple[StoredPhoto, asyncio.Task[None]]] = []
    try:
        for record in (r for r in records if r.id not in known):
            try:
                photo, write = await fetcher.fetch(claim.code_oc, record)
            except PhotoRefused as exc:
                refusals.append(Refusal(str(record.id), exc.reason, exc.detail))
            except PhotoNotFound as exc:
                waiting.append(Retry("not_found", str(exc)))
            except StorageError as exc:
                waiting.append(_storage_failed(ctx, record, exc))
            except (PhotoUnavailable, PartnerUnreachable, TokenUnavailable) as exc:
                waiting.append(Retry("transient", str(exc)))
            else:
                writes.append((photo, asyncio.create_task(write)))
                waiting += await _written(ctx, claim, progress, writes, keep=1)
        waiting += await _written(ctx, claim, progress, writes, keep=0)
    finally:
        for _, task in writes:  # only when the attempt itself is cancelled
            task.cancel()
    return _photos_outcome(refusals, waiting, len(records))


async def _written(
    ctx: AttemptContext,
    claim: Claim,
    progress: _Progress,
    writes: list[tuple[StoredPhoto, asyncio.Task[None]]],
    keep: int,
) -> list[Retry]:
    """Wait for the oldest writes until `keep` are left; a failed one is retried later."""
    failed = []
    while len(writes) > keep:
        photo, task = writes.pop(0)
        try:
            await task
        except StorageError as exc:
            failed.append(_storage_failed(ctx, photo.record, exc))
            continue
        progress.stored.append(photo)
        ctx.metrics.photos_stored.labels(claim.code_oc).inc()
        ctx.metrics.photo_bytes.labels(claim.code_oc).inc(photo.facts.size)
    return failed


def _storage_failed(ctx: AttemptContext, record: PhotoRecord, exc: StorageError) -> Retry:
    ctx.metrics.errors.labels("storage").inc()
    log.error("storing a photo failed", photo_id=str(record.id), error=str(exc))
    return Retry("transient", str(exc))


def _photos_outcome(refusals: list[Refusal], waiting: list[Retry], listed: int) -> Outcome:
    if waiting:
        # Some photos may still come: decide about the refused ones when nothing is left to wait.
        first = waiting[0]
        more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
        return Retry(first.reason, first.error + more)
    if refusals:
        return Final("failed", describe_refusals(refusals, listed), refusals=tuple(refusals))
    return Final("completed", None)


def describe_refusals(refusals: list[Refusal], listed: int) -> str:
    head = f"{len(refusals)} of {listed + sum(r.reason == 'invalid_record' for r in refusals)}"
    details = "; ".join(
        f"{r.photo_id or 'record without id'}: {r.reason}: {r.detail}" for r in refusals
    )
    return f"{head} photos refused: {details}"[:2000]


async def _retry_or_give_up(
    ctx: AttemptContext, client: PartnerClient, claim: Claim, progress: _Progress, retry: Retry
) -> str:
    settings = ctx.settings
    not_found = claim.not_found_count + (retry.reason == "not_found")
    if retry.reason == "not_found" and not_found > settings.not_found_retries:
        error = f"{retry.error} ({not_found} times, giving up)"
        return await _finish(ctx, claim, progress, Final("failed", error))
    now = datetime.now(UTC)
    retry_after = parse_retry_after(progress.answer.retry_after if progress.answer else None, now)
    delay = backoff_delay(
        claim.attempt,
        settings.retry_initial_seconds,
        settings.retry_max_seconds,
        ctx.rng,
        retry_after,
    )
    max_wait = client.partner.config.max_wait
    next_at = next_attempt(now, delay, claim.waiting_since + max_wait)
    if next_at is None:
        status: Literal["expired", "failed"] = (
            "expired" if retry.reason == "not_ready" else "failed"
        )
        error = (
            f"{retry.error}; max_wait {format_duration(max_wait.total_seconds(), units=4)} reached"
        )
        return await _finish(ctx, claim, progress, Final(status, error))
    report = progress.report(f"retry:{retry.reason}", retry.error)
    held = await ctx.reschedules.submit(
        Rescheduling(claim, report, next_at, not_found, settings.instance)
    )
    if not held:
        return _lease_lost(ctx)
    ctx.metrics.retries_scheduled.labels(claim.code_oc, retry.reason).inc()
    # A 202 is the normal way to wait, possibly for days: a line per poll would drown the log.
    log.log(
        logging.DEBUG if retry.reason == "not_ready" else logging.INFO,
        "attempt rescheduled",
        outcome=retry.reason,
        error=retry.error,
        http_status=report.http_status,
        attempt=claim.attempt,
        next_attempt_at=next_at.isoformat(),
        stored=len(report.stored),
    )
    return f"retry:{retry.reason}"


async def _finish(ctx: AttemptContext, claim: Claim, progress: _Progress, final: Final) -> str:
    report = progress.report(final.status, final.error, final.refusals)
    event = await outcomes.finish(
        ctx.pool, claim, report, status=final.status, worker=ctx.settings.instance
    )
    if event is None:
        return _lease_lost(ctx)
    ctx.metrics.requests_finished.labels(claim.code_oc, final.status).inc()
    for refusal in final.refusals:
        ctx.metrics.photos_refused.labels(claim.code_oc, refusal.reason).inc()
    ctx.on_finished()
    log.info(
        "request finished",
        status=final.status,
        photos=len(event["photos"]),
        refused=len(final.refusals),
        attempt=claim.attempt,
        http_status=report.http_status,
        error=final.error,
    )
    return final.status


def _lease_lost(ctx: AttemptContext) -> str:
    # Another worker holds the request now; what this one stored is harmless to keep.
    ctx.metrics.lease_lost.inc()
    log.warning("lease lost; the request is left to the worker that holds it now")
    return "lease_lost"
