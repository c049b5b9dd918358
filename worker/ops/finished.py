"""The purge of finished requests (only when `WORKER_KEEP_FINISHED` is set): each request with
everything that hangs on it, and the photos no other request lists, rows and stored objects.

A batch is one statement: it takes the oldest finished requests (through the index on
`completed_at`, from where the last batch stopped), locks them (`FOR UPDATE SKIP LOCKED`: a
request that an operator is refetching right now is skipped, not waited for), and deletes their
links, attempts, refusals, findings, events and rows, then the photos that only they listed. A
request whose event is not published yet is left for a later run. The objects of the deleted
photos are removed from storage after the commit: a crash in between leaves objects without rows
(storage that nothing points to), never rows that point to nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from worker.photos.storage import PhotoStore

TABLES = ("requests", "attempts", "findings", "events", "photos")

_DOOMED = """
doomed AS (
    SELECT message_id, completed_at FROM photo_requests r
    WHERE r.completed_at < $1 AND r.completed_at >= $2 AND r.status <> 'pending'
      AND (r.completed_at, r.message_id) > ($2, $4)
      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = r.message_id
                      AND o.sent_at IS NULL)
    ORDER BY r.completed_at, r.message_id LIMIT $3
    FOR UPDATE SKIP LOCKED
)"""
_PURGE = f"""
WITH {_DOOMED},
links AS (DELETE FROM photo_request_photos l USING doomed d WHERE l.message_id = d.message_id
          RETURNING l.code_oc, l.photo_id),
attempts AS (DELETE FROM request_attempts a USING doomed d WHERE a.message_id = d.message_id
             RETURNING 1),
refusals AS (DELETE FROM photo_refusals x USING doomed d WHERE x.message_id = d.message_id
             RETURNING 1),
findings AS (DELETE FROM photo_findings f USING doomed d WHERE f.message_id = d.message_id
             RETURNING 1),
events AS (DELETE FROM outbox o USING doomed d WHERE o.message_id = d.message_id RETURNING 1),
requests AS (DELETE FROM photo_requests r USING doomed d WHERE r.message_id = d.message_id
             RETURNING 1),
-- Every part of the statement sees the links as they were: those of the doomed requests are
-- left out by hand. A link written meanwhile by a worker holds the photo (foreign key): then
-- the statement fails, and the next run tries again.
photos AS (
    DELETE FROM photos p USING (SELECT DISTINCT code_oc, photo_id FROM links) l
    WHERE p.code_oc = l.code_oc AND p.photo_id = l.photo_id
      AND NOT EXISTS (SELECT 1 FROM photo_request_photos k
                      WHERE k.code_oc = p.code_oc AND k.photo_id = p.photo_id
                        AND k.message_id NOT IN (SELECT message_id FROM doomed))
    RETURNING p.storage_key
)
SELECT last.completed_at AS last, last.message_id AS last_id,
    (SELECT count(*) FROM requests) AS requests, (SELECT count(*) FROM attempts) AS attempts,
    (SELECT count(*) FROM findings) AS findings, (SELECT count(*) FROM events) AS events,
    (SELECT coalesce(array_agg(storage_key), '{{}}') FROM photos) AS keys
FROM (SELECT NULL) one LEFT JOIN (
    SELECT completed_at, message_id FROM doomed ORDER BY completed_at DESC, message_id DESC LIMIT 1
) last ON true
"""  # noqa: S608 - constants only
# What a batch would take, for --dry-run: the same requests, nothing deleted.
_COUNT = f"""
WITH {_DOOMED.replace("FOR UPDATE SKIP LOCKED", "")},
only_theirs AS (
    SELECT DISTINCT l.code_oc, l.photo_id FROM photo_request_photos l
    JOIN doomed d ON d.message_id = l.message_id
    WHERE NOT EXISTS (SELECT 1 FROM photo_request_photos k
                      WHERE k.code_oc = l.code_oc AND k.photo_id = l.photo_id
                        AND k.message_id NOT IN (SELECT message_id FROM doomed))
)
SELECT last.completed_at AS last, last.message_id AS last_id,
    (SELECT count(*) FROM doomed) AS requests,
    (SELECT count(*) FROM request_attempts a JOIN doomed d USING (message_id)) AS attempts,
    (SELECT count(*) FROM photo_findings f JOIN doomed d USING (message_id)) AS findings,
    (SELECT count(*) FROM outbox o JOIN doomed d USING (message_id)) AS events,
    (SELECT count(*) FROM only_theirs) AS photos
FROM (SELECT NULL) one LEFT JOIN (
    SELECT completed_at, message_id FROM doomed ORDER BY completed_at DESC, message_id DESC LIMIT 1
) last ON true
"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class FinishedBatch:
    last: tuple[datetime, uuid.UUID] | None  # the newest taken: where the next batch starts
    counts: dict[str, int]
    keys: tuple[str, ...]  # storage keys of the photos deleted


async def purge_finished_batch(
    conn: asyncpg.Connection,
    cutoff: datetime,
    after: tuple[datetime, uuid.UUID],
    size: int,
    dry_run: bool,
) -> FinishedBatch:
    """Delete (or, dry, count) up to `size` requests finished before `cutoff`, after `after`."""
    row = await conn.fetchrow(_COUNT if dry_run else _PURGE, cutoff, after[0], size, after[1])
    assert row is not None  # scalar subqueries: always one row
    keys = () if dry_run else tuple(row["keys"])
    photos = row["photos"] if dry_run else len(keys)
    counts = {name: row[name] for name in ("requests", "attempts", "findings", "events")}
    last = (row["last"], row["last_id"]) if row["last"] is not None else None
    return FinishedBatch(last, counts | {"photos": photos}, keys)


async def delete_objects(store: PhotoStore, keys: tuple[str, ...]) -> int:
    """Remove the stored objects of deleted photos; how many were asked."""
    if keys:
        await store.delete(keys)
    return len(keys)
