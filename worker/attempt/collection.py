"""The photos of a 200: each listed photo not stored yet is downloaded, checked and stored.

The attempt's outcome is decided once every photo has been tried: what still may come makes it
a retry, what was refused makes it `failed`, all stored makes it `completed`.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import structlog

from worker.attempt.context import AttemptContext, Progress
from worker.attempt.verdicts import Final, Outcome, Refusal, Retry
from worker.partners.client import CallRefused, PartnerClient, PartnerUnreachable
from worker.partners.credentials import TokenUnavailable
from worker.partners.records import PhotoRecord
from worker.photos.catalog import StoredPhoto
from worker.photos.fetch import PhotoFetcher, PhotoNotFound, PhotoUnavailable
from worker.photos.inspector import PhotoRefused
from worker.photos.storage import StorageError
from worker.schedule.claims import Claim

log = structlog.get_logger()
# A photo being written: what it is, and the write.
Write = tuple[StoredPhoto, asyncio.Task[None]]


async def collect_photos(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    records: list[PhotoRecord],
    refusals: list[Refusal],
) -> Outcome:
    """Download every listed photo not stored yet; decide once all have been tried.

    A photo's write to storage runs while the next one downloads (one write ahead at most): on
    S3 a PUT takes tens of milliseconds that would otherwise add up photo after photo.
    """
    known = await ctx.lookups.submit((claim.code_oc, records))
    progress.known, progress.listed, progress.records = known, True, records
    waiting = await _download(
        ctx, client, claim, progress, [r for r in records if r.id not in known], refusals
    )
    return _photos_outcome(refusals, waiting, len(records))


async def collect_again(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    vanished: frozenset[uuid.UUID],
    refusals: list[Refusal],
) -> Outcome:
    """Photos found stored when listed whose rows a purge deleted before this attempt linked
    them: looked up again (which cancels the deletion of their objects) and downloaded again."""
    for photo_id in vanished:
        progress.known.pop(photo_id, None)
    records = [r for r in progress.records if r.id in vanished]
    known = await ctx.lookups.submit((claim.code_oc, records))
    progress.known.update(known)
    missing = [r for r in records if r.id not in known]
    waiting = await _download(ctx, client, claim, progress, missing, refusals)
    return _photos_outcome(refusals, waiting, len(progress.records))


async def _download(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    records: list[PhotoRecord],
    refusals: list[Refusal],
) -> list[Retry]:
    """Download these photos; what may still come is returned, what was refused is added."""
    fetcher = PhotoFetcher(ctx.store, client, ctx.settings.photo_max_bytes, ctx.metrics)
    waiting: list[Retry] = []
    writes: list[Write] = []
    ctx.downloads.count += 1
    try:
        for record in records:
            try:
                photo, write = await fetcher.fetch(claim.code_oc, record)
            except CallRefused:
                await _written(ctx, claim, progress, writes, keep=0)  # kept by the deferral
                raise
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
        ctx.downloads.count -= 1
        ctx.downloads.ended = time.monotonic()
        for _, task in writes:  # only when the attempt itself is cancelled
            task.cancel()
    return waiting


async def _written(
    ctx: AttemptContext,
    claim: Claim,
    progress: Progress,
    writes: list[Write],
    keep: int,
) -> list[Retry]:
    """Wait for the oldest writes until `keep` are left; a failed one is retried later.

    A photo is reviewed once the request is finished, from storage: its checks never see bytes
    that storage refused.
    """
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
