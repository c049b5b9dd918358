"""`worker review --since`: requests whose photos were stored in a window queued for review again,
batch by batch, in the order they finished, with the run's place kept in `review_runs`.

A run cut short (Ctrl-C, a crash) resumes at its cursor when the same selection is given again.
Requests stored before the review stage existed get their first review row here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from worker.partners.duration import format_duration

_START = datetime(1970, 1, 1).astimezone()
_NO_ID = uuid.UUID(int=0)


@dataclass(frozen=True)
class Selection:
    since: timedelta
    oc: str | None = None
    kind: str | None = None  # only requests with a finding of this kind

    def key(self) -> str:
        since = format_duration(self.since.total_seconds(), units=4)
        return f"since={since} oc={self.oc or '*'} kind={self.kind or '*'}"


@dataclass
class Run:
    id: int
    selection: Selection
    started_at: datetime
    since_at: datetime
    cursor_at: datetime
    cursor_message_id: uuid.UUID
    queued: int
    changed: int
    resumed: bool


async def open_run(pool: asyncpg.Pool, selection: Selection, by: str) -> Run:
    """The unfinished run of this selection, or a new one."""
    row = await pool.fetchrow(
        "SELECT * FROM review_runs WHERE selection = $1 AND finished_at IS NULL"
        " ORDER BY id DESC LIMIT 1",
        selection.key(),
    )
    resumed = row is not None
    if row is None:
        row = await pool.fetchrow(
            "INSERT INTO review_runs (selection, since_at, run_by)"
            " VALUES ($1, now() - $2::interval, $3) RETURNING *",
            selection.key(),
            selection.since,
            by,
        )
    assert row is not None
    return Run(
        row["id"],
        selection,
        row["started_at"],
        row["since_at"],
        row["cursor_at"] or _START,
        row["cursor_message_id"] or _NO_ID,
        row["queued"],
        row["changed"],
        resumed,
    )


_CHOSEN = """
FROM photo_requests r
WHERE r.completed_at IS NOT NULL AND r.completed_at >= $1
    AND (r.completed_at, r.message_id) > ($2, $3)
    AND ($4::text IS NULL OR r.code_oc = $4)
    AND ($5::text IS NULL OR EXISTS (
        SELECT 1 FROM photo_findings f WHERE f.message_id = r.message_id AND f.kind = $5))
    AND EXISTS (SELECT 1 FROM photo_request_photos l WHERE l.message_id = r.message_id)
"""


async def left(pool: asyncpg.Pool, run: Run) -> int:
    """Requests of the selection not queued by this run yet."""
    return int(await pool.fetchval("SELECT count(*) " + _CHOSEN, *_arguments(run)))


async def queue_batch(pool: asyncpg.Pool, run: Run, size: int) -> list[uuid.UUID]:
    """Queue the next `size` requests for review and move the run's cursor past them.

    A request already waiting for its review, or reviewed since the run started, is left as it
    is (reviewed with the current checks anyway); it still counts as queued by the run.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT r.message_id, r.code_oc, r.completed_at "
            + _CHOSEN
            + " ORDER BY r.completed_at, r.message_id LIMIT $6",
            *_arguments(run),
            size,
        )
        if not rows:
            return []
        await conn.execute(
            "INSERT INTO request_reviews (message_id, code_oc, stored_at)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])"
            " ON CONFLICT (message_id) DO UPDATE SET queued_at = now(), reviewed_at = NULL,"
            " claims = 0, failures = '{}' WHERE request_reviews.reviewed_at < $4",
            [row["message_id"] for row in rows],
            [row["code_oc"] for row in rows],
            [row["completed_at"] for row in rows],
            run.started_at,
        )
        run.cursor_at, run.cursor_message_id = rows[-1]["completed_at"], rows[-1]["message_id"]
        run.queued += len(rows)
        await conn.execute(_SAVE, *_saved(run))
    return [row["message_id"] for row in rows]


async def waiting(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> int:
    """Of these requests, how many still wait for their review."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM request_reviews"
            " WHERE message_id = ANY($1::uuid[]) AND reviewed_at IS NULL",
            ids,
        )
    )


async def changed_since(pool: asyncpg.Pool, ids: list[uuid.UUID], since: datetime) -> int:
    """Of these requests, how many got a new photos.reviewed since `since`."""
    return int(
        await pool.fetchval(
            "SELECT count(DISTINCT message_id) FROM outbox WHERE message_id = ANY($1::uuid[])"
            " AND routing_key = 'photos.reviewed' AND created_at >= $2",
            ids,
            since,
        )
    )


async def note_changed(pool: asyncpg.Pool, run: Run, count: int) -> None:
    run.changed += count
    await pool.execute(_SAVE, *_saved(run))


async def finish(pool: asyncpg.Pool, run: Run) -> None:
    await pool.execute("UPDATE review_runs SET finished_at = now() WHERE id = $1", run.id)


_SAVE = (
    "UPDATE review_runs SET cursor_at = $2, cursor_message_id = $3, queued = $4, changed = $5"
    " WHERE id = $1"
)


def _saved(run: Run) -> list[object]:
    return [run.id, run.cursor_at, run.cursor_message_id, run.queued, run.changed]


def _arguments(run: Run) -> list[object]:
    s = run.selection
    return [run.since_at, run.cursor_at, run.cursor_message_id, s.oc, s.kind]
