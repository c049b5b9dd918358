"""What every attempt of a process shares, and what one attempt has learned so far."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from worker.attempt.outcomes import AttemptReport, Outcomes, Rescheduling
from worker.attempt.verdicts import Refusal
from worker.database.batching import Batcher
from worker.observe.metrics import Metrics
from worker.partners.client import Answer
from worker.photos.catalog import PhotoSummary, StoredPhoto
from worker.photos.storage import PhotoStore
from worker.settings import Settings


@dataclass(frozen=True)
class AttemptContext:
    """What every attempt of this process shares."""

    pool: asyncpg.Pool
    store: PhotoStore
    settings: Settings
    metrics: Metrics
    outcomes: Outcomes
    on_finished: Callable[[], None]
    reschedules: Batcher[Rescheduling, bool]
    rng: random.Random = field(default_factory=random.Random)


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
