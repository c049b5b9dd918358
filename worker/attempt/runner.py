"""One attempt at a request: ask for the metadata, fetch the photos, decide what happens next.

Every request ends: one past its deadline, or whose attempts were interrupted too many times in a
row, is finished as soon as it is claimed, before the partner is asked again. Times are the
database's (`Claim.now()`), never this machine's clock.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any, Literal

import structlog

from worker.attempt.collection import collect_again, collect_photos
from worker.attempt.context import AttemptContext, Progress
from worker.attempt.outcomes import AttemptReport, PhotosVanished, Rescheduling
from worker.attempt.verdicts import Final, Outcome, Refusal, Retry, judge_metadata
from worker.findings.model import Finding
from worker.findings.requests import undecoded
from worker.limits import ledger
from worker.observe.failures import describe_refusal, is_data_error
from worker.partners.client import (
    METADATA_MAX_BYTES,
    CallRefused,
    PartnerClient,
    PartnerUnreachable,
)
from worker.partners.config import choose_query
from worker.partners.credentials import TokenRefused, TokenUnavailable
from worker.partners.duration import format_duration
from worker.partners.records import MalformedAnswer, parse_photo_list
from worker.schedule.backoff import backoff_delay, next_attempt, parse_retry_after, retry_floor
from worker.schedule.claims import Claim

log = structlog.get_logger()


async def run_attempt(ctx: AttemptContext, client: PartnerClient, claim: Claim) -> str:
    """Runs the attempt and records its outcome; returns the outcome for the summary line."""
    progress = Progress(started_at=claim.now())
    doomed = _doomed(ctx, client, claim)
    if doomed is not None:
        await client.gate.unspent(claim.lease_id)  # a breaker's probe goes to one that calls
        return await _finish(ctx, client, claim, progress, doomed)
    try:
        outcome = await _attempt(ctx, client, claim, progress)
    except CallRefused as refused:
        if progress.answer is None:  # refused before its first call
            await client.gate.unspent(claim.lease_id)
        return await _defer(ctx, client, claim, progress, refused)
    if isinstance(outcome, Retry):
        return await _retry_or_give_up(ctx, client, claim, progress, outcome)
    return await _finish(ctx, client, claim, progress, outcome)


def _doomed(ctx: AttemptContext, client: PartnerClient, claim: Claim) -> Final | None:
    """A request that must end now, whatever the partner would say.

    The last chance at the deadline may be claimed up to a lease late; past that, if the last
    attempt was interrupted, it was the one at the deadline, and the request ends with what it
    last learned. One that ended as it should is not doomed, however late: it was held past
    its deadline by a closure or an open breaker (or no worker ran), and gets its last chance.
    """
    settings = ctx.settings
    late = claim.claimed_at > claim.deadline + timedelta(seconds=settings.lease_seconds)
    if late and claim.interruptions > 0:
        waited = format_duration(client.partner.config.max_wait.total_seconds(), units=4)
        status: Literal["expired", "failed"] = (
            "expired" if claim.last_http_status == 202 else "failed"
        )
        return Final(status, f"max_wait {waited} reached; last error: {claim.last_error}")
    if claim.interruptions >= settings.max_interruptions:
        last = claim.last_error or "none recorded (the worker was killed or lost its lease)"
        return Final(
            "failed", f"attempt interrupted {claim.interruptions} times in a row; last: {last}"
        )
    return None


async def _attempt(
    ctx: AttemptContext, client: PartnerClient, claim: Claim, progress: Progress
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
    progress.ready_at = claim.now()
    if len(answer.body) > METADATA_MAX_BYTES:
        return Final("failed", f"metadata answer larger than {METADATA_MAX_BYTES} bytes")
    try:
        listing = parse_photo_list(answer.body)
    except MalformedAnswer as exc:
        return Final("failed", str(exc))
    refusals = [Refusal(r.photo_id, "invalid_record", r.detail) for r in listing.refusals]
    return await collect_photos(ctx, client, claim, progress, listing.records, refusals)


async def _retry_or_give_up(
    ctx: AttemptContext, client: PartnerClient, claim: Claim, progress: Progress, retry: Retry
) -> str:
    settings = ctx.settings
    not_found = claim.not_found_count + (retry.reason == "not_found")
    if retry.reason == "not_found" and not_found > settings.not_found_retries:
        error = f"{retry.error} ({not_found} times, giving up)"
        return await _finish(ctx, client, claim, progress, Final("failed", error))
    now = claim.now()
    retry_after = parse_retry_after(progress.answer.retry_after if progress.answer else None, now)
    initial, cap = settings.retry_initial_seconds, settings.retry_max_seconds
    delay = backoff_delay(claim.attempt, initial, cap, ctx.rng, retry_after, retry_floor(initial))
    next_at = next_attempt(now, delay, claim.deadline)
    if next_at is None:
        status: Literal["expired", "failed"] = (
            "expired" if retry.reason == "not_ready" else "failed"
        )
        waited = format_duration(client.partner.config.max_wait.total_seconds(), units=4)
        return await _finish(
            ctx, client, claim, progress, Final(status, f"{retry.error}; max_wait {waited} reached")
        )
    report = progress.report(f"retry:{retry.reason}", retry.error)
    try:
        held = await ctx.reschedules.submit(Rescheduling(claim, report, next_at, not_found))
    except Exception as exc:
        if not is_data_error(exc):
            raise
        return await _finish_unrecordable(ctx, claim, report, exc)
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


async def _finish(
    ctx: AttemptContext, client: PartnerClient, claim: Claim, progress: Progress, final: Final
) -> str:
    findings = await _findings(ctx, claim, progress)
    report = progress.report(final.status, final.error, final.refusals, findings)
    try:
        event = await ctx.outcomes.finish(claim, report, final.status)
    except PhotosVanished as vanished:
        return await _store_vanished(ctx, client, claim, progress, final, vanished.photo_ids)
    except Exception as exc:
        if not is_data_error(exc):
            raise
        return await _finish_unrecordable(ctx, claim, report, exc)
    if event is None:
        return _lease_lost(ctx)
    return _finished(ctx, claim, report, final, event)


async def _store_vanished(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    final: Final,
    vanished: frozenset[uuid.UUID],
) -> str:
    """A purge deleted photos this attempt found stored, before its outcome linked them: they
    are downloaded again, and the photos' verdict taken again, rather than the request failed."""
    log.warning(
        "photos found stored were purged meanwhile; storing them again", photos=len(vanished)
    )
    outcome: Outcome = await collect_again(
        ctx, client, claim, progress, vanished, list(final.refusals)
    )
    if final.status != "completed" and not final.refusals:
        outcome = final  # decided before the photos (max_wait, 404s): it stands
    if isinstance(outcome, Retry):
        return await _retry_or_give_up(ctx, client, claim, progress, outcome)
    return await _finish(ctx, client, claim, progress, outcome)


async def _finish_unrecordable(
    ctx: AttemptContext, claim: Claim, report: AttemptReport, exc: Exception
) -> str:
    """The outcome's values were refused by PostgreSQL: end the request as failed, saying so,
    without them, rather than trying the same statement at every lease for ever."""
    error = f"the outcome of this attempt could not be recorded: {describe_refusal(exc)}"
    log.error("outcome refused by the database; request finished as failed", error=error)
    event = await ctx.outcomes.finish(claim, report.bare(error), "failed")
    if event is None:
        return _lease_lost(ctx)
    return _finished(ctx, claim, report.bare(error), Final("failed", error), event)


def _finished(
    ctx: AttemptContext,
    claim: Claim,
    report: AttemptReport,
    final: Final,
    event: dict[str, Any],
) -> str:
    photos, review = len(event["photos"]), event["review"]
    ctx.metrics.requests_finished.labels(claim.code_oc, final.status).inc()
    for refusal in final.refusals:
        ctx.metrics.photos_refused.labels(claim.code_oc, refusal.reason).inc()
    for finding in report.findings:
        ctx.metrics.findings.labels(claim.code_oc, finding.kind).inc()
    ctx.on_finished(review == "pending")
    log.info(
        "request finished",
        status=final.status,
        photos=photos,
        refused=len(final.refusals),
        findings=len(report.findings),
        review=review,
        attempt=claim.attempt,
        http_status=report.http_status,
        error=final.error,
    )
    return final.status


async def _findings(ctx: AttemptContext, claim: Claim, progress: Progress) -> tuple[Finding, ...]:
    """What the listing this attempt got shows without decoding a photo (none without one);
    the review stage adds what the images show."""
    if not ctx.checks or not progress.listed:
        return ()
    request = progress.request_view(claim)
    return tuple(await undecoded(ctx.pool, request, progress.stored, list(progress.known)))


async def _defer(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    refused: CallRefused,
) -> str:
    """The OC's conditions forbid calling it now: the request waits, its attempt not spent.

    An attempt that stored photos before the refusal keeps them: it is recorded with their rows
    (its attempt spent), so the next one links them instead of downloading them again, and a
    request larger than a day's quota completes over several days.
    """
    spread = client.partner.config.spread.total_seconds()
    error = _over_quota(ctx, client, claim, progress, refused)
    if progress.stored:
        next_at = refused.until + timedelta(seconds=ctx.rng.uniform(0, spread))
        report = progress.report(f"deferred:{refused.reason}", error or str(refused))
        rescheduling = Rescheduling(claim, report, next_at, claim.not_found_count)
        if not await ctx.reschedules.submit(rescheduling):
            return _lease_lost(ctx)
    elif not await ledger.defer_claim(ctx.pool, claim.lease_id, refused.until, spread, error):
        return _lease_lost(ctx)
    ctx.metrics.deferred.labels(claim.code_oc, refused.reason).inc()
    log.info(
        "attempt deferred",
        reason=refused.reason,
        until=refused.until.isoformat(),
        stored=len(progress.stored),
    )
    return f"deferred:{refused.reason}"


def _over_quota(
    ctx: AttemptContext,
    client: PartnerClient,
    claim: Claim,
    progress: Progress,
    refused: CallRefused,
) -> str | None:
    """Said of a request that needs more calls than a whole day's quota allows."""
    quota = client.partner.config.quota
    needed = 1 + len(progress.records)
    if refused.reason != "quota" or quota is None or needed <= quota.calls:
        return None
    ctx.metrics.over_quota.labels(claim.code_oc).inc()
    done = len(progress.known) + len(progress.stored)
    error = (
        f"needs {needed} calls (metadata and {len(progress.records)} photos), more than the"
        f" daily quota of {quota.calls}: completed over several days, {done} photos kept so far"
    )
    log.warning("request larger than a day's quota", error=error)
    return error


def _lease_lost(ctx: AttemptContext) -> str:
    # Another worker holds the request now; what this one stored is harmless to keep.
    ctx.metrics.lease_lost.inc()
    log.warning("lease lost; the request is left to the worker that holds it now")
    return "lease_lost"
