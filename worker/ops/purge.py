"""`worker purge`: apply the retention settings (docs/operations.md: Retention), one run at a time.

The history tables (attempts, sent events, dead letters) and, when `WORKER_KEEP_FINISHED` is set,
finished requests with their photos and the remembered message ids of purged requests, in
batches of `WORKER_PURGE_BATCH` rows, each its own short transaction, with a pause between two.
An advisory lock makes a second run (another CronJob pod, an operator) give way instead of
racing. Cutoffs are taken on the database's clock. A run is
recorded in `purge_runs`, which `worker status` and the worker's `/metrics` read.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from worker.ops.finished import delete_objects, purge_finished_batch
from worker.ops.history import ATTEMPTS, DEAD_LETTERS, EVENTS, History, purge_batch
from worker.photos.storage import PhotoStore
from worker.settings import Settings

log = structlog.get_logger("worker.purge")
# pg_try_advisory_lock key of the purge: "photopurge" in hex, any constant of our own would do.
_LOCK = 0x70686F746F7075
_FORGET = """
WITH old AS (SELECT message_id FROM purged_messages WHERE purged_at < $1 ORDER BY purged_at
             LIMIT $2),
gone AS (DELETE FROM purged_messages p USING old WHERE p.message_id = old.message_id RETURNING 1)
SELECT count(*) FROM gone
"""
_FINISHED_SHARE = 10  # a finished request deletes about ten rows: its batches are that smaller


@dataclass(frozen=True)
class Retention:
    attempts: timedelta | None
    events: timedelta | None
    dead_letters: timedelta | None
    finished: timedelta | None
    batch: int = 5000
    pause: float = 0.05
    purged_ids: timedelta | None = None  # after their request was purged

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        return cls(
            settings.keep_attempts,
            settings.keep_events,
            settings.keep_dead_letters,
            settings.keep_finished,
            settings.purge_batch,
            settings.purge_pause_seconds,
            settings.keep_purged_ids,
        )


@dataclass
class PurgeReport:
    dry_run: bool
    deleted: Counter[str] = field(default_factory=Counter)  # rows by table
    objects: int = 0
    batches: int = 0
    seconds: float = 0.0
    skipped: bool = False  # another purge held the lock

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "deleted": dict(self.deleted),
            "objects": self.objects,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


async def purge(
    conn: asyncpg.Connection,
    retention: Retention,
    store: PhotoStore | None,
    dry_run: bool = False,
    by: str = "",
) -> PurgeReport:
    """One run; `store` is needed only when finished requests are purged (their objects)."""
    report = PurgeReport(dry_run)
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK):
        report.skipped = True
        log.warning("purge skipped: another purge is running")
        return report
    started = time.monotonic()
    try:
        now: datetime = await conn.fetchval("SELECT now()")
        await _purge_history(conn, retention, now, report)
        if retention.finished is not None:
            assert store is not None, "purging finished requests needs the photo store"
            if retention.purged_ids is not None:
                await _forget_purged_ids(conn, retention, now - retention.purged_ids, report)
            await _purge_finished(conn, retention, now - retention.finished, store, report)
    finally:
        report.seconds = time.monotonic() - started
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    log.info("purge finished", **report.as_json())
    if not dry_run:
        await _record(conn, report, now, by)
    return report


async def _purge_history(
    conn: asyncpg.Connection, retention: Retention, now: datetime, report: PurgeReport
) -> None:
    tables: tuple[tuple[str, History, timedelta | None], ...] = (
        ("attempts", ATTEMPTS, retention.attempts),
        ("events", EVENTS, retention.events),
        ("dead_letters", DEAD_LETTERS, retention.dead_letters),
    )
    for name, history, keep in tables:
        if keep is None:
            continue
        after = 0
        while True:
            batch = await purge_batch(
                conn, history, after, retention.batch, now - keep, report.dry_run
            )
            report.deleted[name] += batch.deleted
            report.batches += 1
            if not batch.more or batch.last is None:
                break
            after = batch.last
            await asyncio.sleep(retention.pause)


async def _forget_purged_ids(
    conn: asyncpg.Connection, retention: Retention, cutoff: datetime, report: PurgeReport
) -> None:
    """The message ids of requests purged before `cutoff`: intake accepts them again."""
    if report.dry_run:
        count = "SELECT count(*) FROM purged_messages WHERE purged_at < $1"
        report.deleted["purged_ids"] += int(await conn.fetchval(count, cutoff))
        return
    while True:
        deleted = int(await conn.fetchval(_FORGET, cutoff, retention.batch))
        report.deleted["purged_ids"] += deleted
        report.batches += 1
        if deleted < retention.batch:
            return
        await asyncio.sleep(retention.pause)


async def _purge_finished(
    conn: asyncpg.Connection,
    retention: Retention,
    cutoff: datetime,
    store: PhotoStore,
    report: PurgeReport,
) -> None:
    after = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))
    size = max(1, retention.batch // _FINISHED_SHARE)
    while True:
        batch = await purge_finished_batch(conn, cutoff, after, size, report.dry_run)
        report.deleted.update(batch.counts)
        if not report.dry_run:
            report.objects += await delete_objects(conn, store, size)
        report.batches += 1
        if batch.last is None or batch.counts["requests"] < size:
            break
        after = batch.last
        await asyncio.sleep(retention.pause)


async def _record(
    conn: asyncpg.Connection, report: PurgeReport, started: datetime, by: str
) -> None:
    await conn.execute(
        "INSERT INTO purge_runs (started_at, seconds, deleted, objects, run_by)"
        " VALUES ($1, $2, $3::jsonb, $4, $5)",
        started,
        report.seconds,
        json.dumps(dict(report.deleted)),
        report.objects,
        by,
    )
