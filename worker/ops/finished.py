"""The purge of finished requests (only when `WORKER_KEEP_FINISHED` is set): each request with
everything that hangs on it, and the photos no other request lists, rows and stored objects.

A batch is one transaction. Its first statement takes the oldest finished requests (through the
index on `completed_at`, from where the last batch stopped), locks them (`FOR UPDATE SKIP
LOCKED`: a request that an operator is refetching right now is skipped, not waited for), deletes
their links, attempts, refusals, findings, events and rows, and remembers their message ids
(`purged_messages`). A request whose event is not published yet is left for a later run. Then
the photos that no request lists any more are locked and deleted, and their keys recorded in
`doomed_objects`.

Objects are removed from storage afterwards, from that record only (`delete_objects`), and only
while no row points to their key: a run cut after its commit leaves the record, which the next
run finishes. A request that lists a doomed photo again cancels its entry before downloading it
(`worker.photos.catalog.known_photos`), or, if the entry is being acted on, waits until the
object is gone; a request that found the photo stored and links it after its row went gets a
foreign-key error and downloads it again (`worker.attempt`).
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
    SELECT message_id, code_oc, completed_at FROM photo_requests r
    WHERE r.completed_at < $1 AND r.completed_at >= $2 AND r.status <> 'pending'
      AND (r.completed_at, r.message_id) > ($2, $4)
      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = r.message_id
                      AND o.sent_at IS NULL)
    ORDER BY r.completed_at, r.message_id LIMIT $3
    FOR UPDATE SKIP LOCKED
)"""
# The requests and what hangs on them; their message ids are remembered (intake refuses them).
# The photos they listed come back as candidates, decided by the statements below.
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
remembered AS (INSERT INTO purged_messages (message_id, code_oc)
               SELECT message_id, code_oc FROM doomed ON CONFLICT DO NOTHING),
listed AS (SELECT DISTINCT code_oc, photo_id FROM links)
SELECT last.completed_at AS last, last.message_id AS last_id,
    (SELECT count(*) FROM requests) AS requests, (SELECT count(*) FROM attempts) AS attempts,
    (SELECT count(*) FROM findings) AS findings, (SELECT count(*) FROM events) AS events,
    (SELECT coalesce(array_agg(code_oc), '{{}}') FROM listed) AS codes,
    (SELECT coalesce(array_agg(photo_id), '{{}}') FROM listed) AS ids
FROM (SELECT NULL) one LEFT JOIN (
    SELECT completed_at, message_id FROM doomed ORDER BY completed_at DESC, message_id DESC LIMIT 1
) last ON true
"""  # noqa: S608 - constants only
# The candidates no one is linking right now (a link being written holds its photo's row:
# that photo is skipped, it stays).
_LOCK_PHOTOS = """
SELECT p.code_oc, p.photo_id FROM photos p
JOIN unnest($1::text[], $2::uuid[]) AS c(code_oc, photo_id) USING (code_oc, photo_id)
FOR UPDATE OF p SKIP LOCKED
"""
# A statement of its own, so that its snapshot, taken once the rows are locked, sees every link
# committed before: a photo goes only if no request lists it any more. A link written after
# waits for this transaction and finds no photo (the attempt then downloads it again). Its key
# is recorded in the same transaction: the object goes later, from that record.
_DELETE_PHOTOS = """
WITH gone AS (
    DELETE FROM photos p USING unnest($1::text[], $2::uuid[]) AS c(code_oc, photo_id)
    WHERE p.code_oc = c.code_oc AND p.photo_id = c.photo_id
      AND NOT EXISTS (SELECT 1 FROM photo_request_photos k
                      WHERE k.code_oc = p.code_oc AND k.photo_id = p.photo_id)
    RETURNING p.code_oc, p.photo_id, p.storage_key
), recorded AS (
    INSERT INTO doomed_objects (storage_key, code_oc, photo_id)
    SELECT storage_key, code_oc, photo_id FROM gone
    ON CONFLICT (storage_key) DO UPDATE SET purged_at = now()
)
SELECT count(*) FROM gone
"""
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


async def purge_finished_batch(
    conn: asyncpg.Connection,
    cutoff: datetime,
    after: tuple[datetime, uuid.UUID],
    size: int,
    dry_run: bool,
) -> FinishedBatch:
    """Delete (or, dry, count) up to `size` requests finished before `cutoff`, after `after`,
    in one transaction; the keys of the photos deleted are recorded in `doomed_objects`."""
    args = (cutoff, after[0], size, after[1])
    row: asyncpg.Record | None
    if dry_run:
        row = await conn.fetchrow(_COUNT, *args)
        assert row is not None  # scalar subqueries: always one row
        photos = row["photos"]
    else:
        async with conn.transaction():
            row = await conn.fetchrow(_PURGE, *args)
            assert row is not None
            locked = await conn.fetch(_LOCK_PHOTOS, row["codes"], row["ids"])
            codes, ids = [r["code_oc"] for r in locked], [r["photo_id"] for r in locked]
            photos = await conn.fetchval(_DELETE_PHOTOS, codes, ids)
    assert row is not None  # scalar subqueries: always one row
    counts = {name: row[name] for name in ("requests", "attempts", "findings", "events")}
    last = (row["last"], row["last_id"]) if row["last"] is not None else None
    return FinishedBatch(last, counts | {"photos": photos})


# Doomed objects, oldest first, with whether a row points to their key again (then the entry
# goes, the object stays). Locked: a request that lists one of them waits until its object is
# gone before it downloads it again; one that cancelled it first is skipped.
_TAKE = """
SELECT d.storage_key, EXISTS (SELECT 1 FROM photos p WHERE p.code_oc = d.code_oc
                              AND p.photo_id = d.photo_id AND p.storage_key = d.storage_key) AS kept
FROM doomed_objects d ORDER BY d.purged_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED
"""


async def delete_objects(conn: asyncpg.Connection, store: PhotoStore, size: int) -> int:
    """Remove from storage the objects recorded as doomed, whatever run recorded them, in
    batches of `size`, each one transaction; how many were removed."""
    removed = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(_TAKE, size)
            doomed = [row["storage_key"] for row in rows if not row["kept"]]
            if doomed:
                await store.delete(doomed)
            await conn.execute(
                "DELETE FROM doomed_objects WHERE storage_key = ANY($1::text[])",
                [row["storage_key"] for row in rows],
            )
        removed += len(doomed)
        if len(rows) < size:
            return removed
