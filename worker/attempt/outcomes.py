"""Writes an attempt's outcome (SQL in `statements.py`): the one place where what came from a
partner becomes statement arguments, so the one place where it is made safe to store.

Error texts, photo records and refusals are redacted, capped and stripped of what PostgreSQL
refuses (`worker.border`); numbers were bounded when the photo's row was made (`catalog.py`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from worker.attempt import statements
from worker.attempt.verdicts import Refusal
from worker.border import INT4, Sanitizer, bounded
from worker.findings.model import Finding
from worker.photos.catalog import FREE_TEXT, PhotoSummary, StoredPhoto
from worker.schedule.claims import Claim

# The link from a request to a stored photo: broken when a purge deleted the photo's row after
# this attempt found it stored and before it linked it.
_PHOTO_LINK = "photo_request_photos_code_oc_photo_id_fkey"


class PhotosVanished(Exception):
    """Photos this attempt found stored were purged before its outcome linked them."""

    def __init__(self, photo_ids: frozenset[uuid.UUID]) -> None:
        super().__init__(f"{len(photo_ids)} photos found stored were purged meanwhile")
        self.photo_ids = photo_ids


def _vanished(exc: Exception) -> bool:
    return isinstance(exc, asyncpg.ForeignKeyViolationError) and exc.constraint_name == _PHOTO_LINK


@dataclass(frozen=True)
class AttemptReport:
    """What an attempt asked, got and decided, and the photos it stored or found stored."""

    started_at: datetime
    operation: str | None
    reference: str | None
    http_status: int | None
    request_id: uuid.UUID | None
    outcome: str
    error: str | None
    ready_at: datetime | None = None
    stored: tuple[StoredPhoto, ...] = ()
    known: tuple[PhotoSummary, ...] = ()
    listed: bool = False  # the partner answered 200 with a list this time
    refusals: tuple[Refusal, ...] = ()
    findings: tuple[Finding, ...] = ()

    def bare(self, error: str) -> AttemptReport:
        """The same attempt failed with `error`, without the photos and refusals it carried."""
        return AttemptReport(
            self.started_at,
            self.operation,
            self.reference,
            self.http_status,
            self.request_id,
            "failed",
            error,
            self.ready_at,
        )


@dataclass(frozen=True)
class Rescheduling:
    """An attempt that ends with the request pending until `next_at`."""

    claim: Claim
    report: AttemptReport
    next_at: datetime
    not_found_count: int


class Outcomes:
    def __init__(
        self, pool: asyncpg.Pool, sanitizer: Sanitizer, worker: str, review: bool = True
    ) -> None:
        self._pool = pool
        self._clean = sanitizer
        self._worker = worker
        self._review = review  # False: photo checks off, nothing is queued for review

    async def reschedule_many(self, items: list[Rescheduling]) -> list[bool]:
        """Reschedule these attempts; for each, whether its lease was still held.

        Attempts that stored or found photos go one by one (their photos are written too); the
        others, nearly all of them, share one statement.
        """
        bare = [item for item in items if not (item.report.stored or item.report.known)]
        bare_leases = {item.claim.lease_id for item in bare}
        held = await self._reschedule_bare(bare)
        results = []
        for item in items:
            if item.claim.lease_id in bare_leases:
                results.append(item.claim.lease_id in held)
            else:
                results.append(await self.reschedule(item))
        return results

    async def _reschedule_bare(self, items: list[Rescheduling]) -> set[uuid.UUID]:
        if not items:
            return set()
        rows = await self._pool.fetch(
            statements.RESCHEDULE_MANY, json.dumps([self._input(item) for item in items])
        )
        return {uuid.UUID(str(row["lease_id"])) for row in rows}

    async def reschedule(self, item: Rescheduling) -> bool:
        """Keep the request pending until `next_at`; False if the lease was lost meanwhile."""
        args = [
            *self._common(item.claim, item.report),
            item.next_at,
            item.not_found_count,
            item.report.ready_at,
        ]
        try:
            return bool(await self._pool.fetchval(statements.RESCHEDULE, *args))
        except asyncpg.ForeignKeyViolationError as exc:
            if not _vanished(exc):
                raise
        # Photos found stored were purged meanwhile: the next attempt lists and stores them.
        args[2] = []
        return bool(await self._pool.fetchval(statements.RESCHEDULE, *args))

    async def finish(
        self, claim: Claim, report: AttemptReport, status: str
    ) -> dict[str, Any] | None:
        """The final status and its event; None if the lease was lost meanwhile."""
        refusals = [
            {"photo_id": r.photo_id, "reason": r.reason, "detail": r.detail}
            for r in report.refusals
        ]
        photos = _event_photos(report) if report.listed else None
        args = [
            *self._common(claim, report),
            status,
            report.ready_at,
            json.dumps(self._clean.payload(refusals)),
            json.dumps(photos) if photos is not None else None,
            json.dumps(self._clean.payload([f.as_event() for f in report.findings])),
            self._review,
        ]
        try:
            body = await self._pool.fetchval(statements.FINISH, *args)
        except asyncpg.ForeignKeyViolationError as exc:
            if not _vanished(exc):
                raise
            raise PhotosVanished(await self._missing(claim.code_oc, report.known)) from exc
        return json.loads(body) if body is not None else None

    async def _missing(self, code_oc: str, known: tuple[PhotoSummary, ...]) -> frozenset[uuid.UUID]:
        ids = {summary.photo_id for summary in known}
        rows = await self._pool.fetch(
            "SELECT photo_id FROM photos WHERE code_oc = $1 AND photo_id = ANY($2::uuid[])",
            code_oc,
            list(ids),
        )
        return frozenset(ids - {row["photo_id"] for row in rows})

    def _common(self, claim: Claim, report: AttemptReport) -> list[Any]:
        """$1 lease, $2 photos stored (JSON), $3 photos already stored, $4.. the attempt's row."""
        return [
            claim.lease_id,
            json.dumps([self._row(photo) for photo in report.stored]),
            [summary.photo_id for summary in report.known],
            self._worker,
            report.operation,
            report.reference,
            bounded(report.http_status, INT4),
            report.request_id,
            report.outcome,
            self._clean.text(report.error),
            report.started_at,
        ]

    def _row(self, photo: StoredPhoto) -> dict[str, Any]:
        """Only the partner's free text needs cleaning: the rest was parsed or made here (a
        third of an outcome's cost went to cleaning every key and value of every row)."""
        row = photo.row()
        for key in FREE_TEXT:
            row[key] = self._clean.text(row[key])
        return row

    def _input(self, item: Rescheduling) -> dict[str, Any]:
        report = item.report
        return {
            "lease_id": str(item.claim.lease_id),
            "next_at": item.next_at.isoformat(),
            "http_status": bounded(report.http_status, INT4),
            "error": self._clean.text(report.error),
            "not_found_count": item.not_found_count,
            "ready_at": report.ready_at.isoformat() if report.ready_at else None,
            "worker": self._worker,
            "operation": report.operation,
            "reference": report.reference,
            "x_request_id": str(report.request_id) if report.request_id else None,
            "outcome": report.outcome,
            "started_at": report.started_at.isoformat(),
        }


def _event_photos(report: AttemptReport) -> list[dict[str, str]]:
    summaries = [*report.known, *(photo.summary() for photo in report.stored)]
    return [s.as_event() for s in sorted(summaries, key=lambda s: (s.type, str(s.photo_id)))]
