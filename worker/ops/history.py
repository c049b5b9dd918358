"""The history tables' purge: old attempts, sent events and dead letters, in batches.

Each table is walked in primary-key order from where the last batch stopped (`id > last`, an
index range of the primary key: no ctid, no scan of what is already gone), a batch of ids at a
time; within a batch, the rows old enough and allowed to go are deleted. The ids of these tables
grow with time, so the walk stops at the first batch holding no row older than the cutoff. A
batch is one statement in its own transaction: it locks only the rows it deletes, which no one
else writes (attempts and dead letters are never updated, and sent events never again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class History:
    """A history table: `old` says a row is past the cutoff ($3), `doomed` that it may go."""

    table: str
    old: str
    doomed: str


ATTEMPTS = History(
    "request_attempts",
    "finished_at < $3",
    # A pending request's attempts are its live history (worker show, the console): kept.
    "finished_at < $3 AND NOT EXISTS (SELECT 1 FROM photo_requests r"
    " WHERE r.message_id = t.message_id AND r.status = 'pending')",
)
# An event not sent yet is work to do, never history.
EVENTS = History("outbox", "created_at < $3", "sent_at < $3")
DEAD_LETTERS = History("dead_letters", "dead_lettered_at < $3", "dead_lettered_at < $3")


@dataclass(frozen=True)
class Batch:
    last: int | None  # the batch's highest id: where the next one starts
    old: int  # rows past the cutoff in the batch, deleted or kept
    deleted: int

    @property
    def more(self) -> bool:
        return self.last is not None and self.old > 0


def _statement(history: History, dry_run: bool) -> str:
    delete = f"DELETE FROM {history.table} t USING batch b"  # noqa: S608 - constants above
    gone = (
        "SELECT 0 AS n WHERE false"
        if dry_run
        else delete + " WHERE t.id = b.id AND b.doomed RETURNING 1 AS n"
    )
    return f"""
WITH batch AS (
    SELECT t.id, {history.old} AS old, {history.doomed} AS doomed
    FROM {history.table} t WHERE t.id > $1 ORDER BY t.id LIMIT $2
), gone AS ({gone})
SELECT max(id) AS last, count(*) FILTER (WHERE old) AS old,
    {"count(*) FILTER (WHERE doomed)" if dry_run else "(SELECT count(*) FROM gone)"} AS deleted
FROM batch
"""  # noqa: S608 - table and conditions are the constants above


async def purge_batch(
    conn: asyncpg.Connection,
    history: History,
    after: int,
    size: int,
    cutoff: datetime,
    dry_run: bool = False,
) -> Batch:
    """Delete (or, dry, count) the doomed rows among the `size` ids after `after`."""
    row = await conn.fetchrow(_statement(history, dry_run), after, size, cutoff)
    assert row is not None  # an aggregate always answers one row
    return Batch(row["last"], row["old"], row["deleted"])
