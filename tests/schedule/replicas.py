"""Schedulers run in the test's loop, as replicas sharing one database, with attempts that hold
on until the test lets them end: the interleavings of claims, leases and starts are the test's."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.harness import load_test_partners, make_settings
from worker.border import Redactor, Sanitizer
from worker.observe.metrics import Metrics
from worker.partners.config import Partner
from worker.schedule.claims import Claim
from worker.schedule.scheduler import Scheduler
from worker.settings import Settings


class Book:
    """Which requests are being run, by whom, and every time two ran one request at once."""

    def __init__(self) -> None:
        self.running: set[uuid.UUID] = set()
        self.started: list[tuple[str, Claim]] = []
        self.overlaps: list[uuid.UUID] = []
        self.end = asyncio.Event()  # every attempt ends
        self.ends: dict[uuid.UUID, asyncio.Event] = {}  # one request's attempts end

    def runner(self, name: str) -> Any:
        async def run(claim: Claim) -> None:
            if claim.message_id in self.running:
                self.overlaps.append(claim.message_id)
            self.running.add(claim.message_id)
            self.started.append((name, claim))
            one = self.ends.setdefault(claim.message_id, asyncio.Event())
            try:
                await asyncio.wait(
                    [asyncio.ensure_future(self.end.wait()), asyncio.ensure_future(one.wait())],
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                self.running.discard(claim.message_id)

        return run

    def let_end(self, message_id: uuid.UUID) -> None:
        self.ends.setdefault(message_id, asyncio.Event()).set()

    def by(self, name: str) -> list[uuid.UUID]:
        return [claim.message_id for who, claim in self.started if who == name]


class Replica:
    """A scheduler whose attempts are the book's; claims and renewals started apart."""

    def __init__(self, settings: Settings, db: asyncpg.Pool, book: Book, **oc: Any) -> None:
        self.partners: dict[str, Partner] = load_test_partners(
            settings, "http://127.0.0.1:9", OCAA={"concurrency": 1, **oc}
        )
        self.metrics = Metrics()
        self.scheduler = Scheduler(
            db,
            settings,
            self.metrics,
            self.partners,
            book.runner(settings.instance),
            Sanitizer(Redactor(())),
            random.Random(),
        )
        self._stop = asyncio.Event()
        self.claiming = asyncio.Event()  # set: no more claims
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, renew: bool = True) -> Replica:
        self._tasks.append(asyncio.create_task(self.scheduler.run(self.claiming)))
        if renew:
            self._tasks.append(asyncio.create_task(self.scheduler.renew_leases(self._stop)))
        return self

    async def stop(self) -> None:
        self.claiming.set()
        self._stop.set()
        await self.scheduler.drain(0)
        await asyncio.gather(*self._tasks)


async def insert(db: asyncpg.Pool, count: int = 1) -> list[uuid.UUID]:
    """Requests of OCAA due now, in the order they fall due."""
    rows = await db.fetch(
        "INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi,"
        " next_attempt_at) SELECT gen_random_uuid(), 'OCAA', 'R-' || i,"
        " now() - make_interval(secs => $1 - i) FROM generate_series(1, $1::int) AS i"
        " RETURNING message_id",
        count,
    )
    return [row["message_id"] for row in rows]


def replica_settings(
    database_url: str, amqp_url: str, tmp_path: Path, name: str, **extra: Any
) -> Settings:
    (tmp_path / name).mkdir(exist_ok=True)
    values: dict[str, Any] = {"lease_seconds": 2, "poll_seconds": 0.05, "instance": name}
    return make_settings(database_url, amqp_url, tmp_path / name, **(values | extra))
