"""What every attempt of a process shares, and what one attempt has learned so far."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from worker.attempt.outcomes import AttemptReport, Outcomes, Rescheduling
from worker.attempt.verdicts import Refusal
from worker.database.batching import Batcher
from worker.findings.model import Finding, RequestView
from worker.observe.metrics import Metrics
from worker.partners.client import Answer
from worker.partners.records import PhotoRecord
from worker.photos.catalog import Lookup, PhotoSummary, StoredPhoto
from worker.photos.storage import PhotoStore
from worker.schedule.claims import Claim
from worker.settings import Settings


@dataclass
class Downloads:
    """Attempts of this process downloading photos now, and when the last one ended (the review
    stage yields to them)."""

    count: int = 0
    ended: float = float("-inf")  # time.monotonic()

    def busy(self, within: float) -> bool:
        """Downloading now, or less than `within` seconds ago: between two attempts of a burst
        there are moments when none downloads."""
        return self.count > 0 or time.monotonic() - self.ended < within


@dataclass(frozen=True)
class AttemptContext:
    """What every attempt of this process shares."""

    pool: asyncpg.Pool
    store: PhotoStore
    settings: Settings
    metrics: Metrics
    outcomes: Outcomes
    on_finished: Callable[[bool], None]  # True: the request was queued for review
    reschedules: Batcher[Rescheduling, bool]
    # Catalog lookups made at the same time share one statement (`catalog.known_photos`).
    lookups: Batcher[Lookup, dict[uuid.UUID, PhotoSummary]]
    rng: random.Random = field(default_factory=random.Random)
    checks: bool = True  # False: photo checks off (no findings, nothing to review)
    downloads: Downloads = field(default_factory=Downloads)


@dataclass
class Progress:
    """What this attempt learned so far; written with its outcome in one statement."""

    started_at: datetime
    operation: str | None = None
    reference: str | None = None
    answer: Answer | None = None
    ready_at: datetime | None = None
    stored: list[StoredPhoto] = field(default_factory=list)
    known: dict[uuid.UUID, PhotoSummary] = field(default_factory=dict)
    listed: bool = False
    records: list[PhotoRecord] = field(default_factory=list)

    def report(
        self,
        outcome: str,
        error: str | None,
        refusals: tuple[Refusal, ...] = (),
        findings: tuple[Finding, ...] = (),
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
            findings=findings,
        )

    def request_view(self, claim: Claim) -> RequestView:
        """The request as the photo checks see it: the message's facts, the types listed."""
        return RequestView(
            message_id=claim.message_id,
            code_oc=claim.code_oc,
            references={str(query): ref for query, ref in claim.references.items()},
            actions=claim.actions,
            date_intervention=claim.date_intervention,
            listed_types=frozenset(record.type.value for record in self.records),
        )
