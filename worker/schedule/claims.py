"""The SQL of the schedule: claims of due requests, and the leases that hold them.

What an attempt writes when it ends is in `worker/attempt/outcomes.py`; intake's insert is in
`worker/intake/requests.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from worker.partners.config import Query

Pool = asyncpg.Pool


@dataclass(frozen=True)
class Claim:
    """A pending request this worker holds until `lease_id` is released or expires."""

    message_id: uuid.UUID
    code_oc: str
    references: dict[Query, str | None]
    attempt: int
    not_found_count: int
    received_at: datetime
    lease_id: uuid.UUID
    waiting_since: datetime  # received_at, or the last refetch: where max_wait counts from


_CLAIM = """
WITH slots AS (
    SELECT * FROM unnest($1::text[], $2::int[]) AS s(code_oc, free)
), due AS (
    SELECT r.message_id
    FROM slots CROSS JOIN LATERAL (
        SELECT message_id FROM photo_requests p
        WHERE p.status = 'pending' AND p.code_oc = slots.code_oc AND p.next_attempt_at <= now()
        ORDER BY p.next_attempt_at
        LIMIT slots.free
        FOR UPDATE SKIP LOCKED
    ) r
    LIMIT $3
)
UPDATE photo_requests p
SET next_attempt_at = now() + make_interval(secs => $4), lease_owner = $5,
    lease_id = gen_random_uuid(), attempts = attempts + 1, updated_at = now()
FROM due WHERE p.message_id = due.message_id
RETURNING p.message_id, p.code_oc, p.reference_prestation_prise,
    p.reference_commande_prise_interne_oc, p.reference_commande_sous_traitant_oi,
    p.attempts, p.not_found_count, p.received_at, p.lease_id,
    coalesce(p.refetched_at, p.received_at) AS waiting_since
"""


async def claim_due(
    pool: Pool, free: dict[str, int], limit: int, lease_seconds: float, owner: str
) -> list[Claim]:
    """Take up to `free[oc]` due requests of each OC, `limit` in all, for `lease_seconds`.

    SKIP LOCKED lets replicas claim side by side without waiting on each other's rows.
    """
    codes = [code for code, n in free.items() if n > 0]
    if not codes or limit <= 0:
        return []
    counts = [free[code] for code in codes]
    rows = await pool.fetch(_CLAIM, codes, counts, limit, lease_seconds, owner)
    return [_claim(row) for row in rows]


def _claim(row: asyncpg.Record) -> Claim:
    return Claim(
        message_id=row["message_id"],
        code_oc=row["code_oc"],
        references={
            "intervention": row["reference_commande_sous_traitant_oi"],
            "order": row["reference_commande_prise_interne_oc"],
            "access": row["reference_prestation_prise"],
        },
        attempt=row["attempts"],
        not_found_count=row["not_found_count"],
        received_at=row["received_at"],
        lease_id=row["lease_id"],
        waiting_since=row["waiting_since"],
    )


async def pending_of_other_ocs(pool: Pool, codes: Sequence[str]) -> dict[str, int]:
    """Pending requests that no worker with this partners file will ever claim."""
    rows = await pool.fetch(
        "SELECT code_oc, count(*) AS n FROM photo_requests"
        " WHERE status = 'pending' AND code_oc <> ALL($1::text[]) GROUP BY code_oc",
        list(codes),
    )
    return {row["code_oc"]: row["n"] for row in rows}


async def next_due(pool: Pool, codes: Sequence[str]) -> datetime | None:
    # One index probe per OC: min() over `code_oc = ANY(...)` would read the whole index.
    value: datetime | None = await pool.fetchval(
        """
        SELECT min(first.next_attempt_at)
        FROM unnest($1::text[]) AS c(code_oc) CROSS JOIN LATERAL (
            SELECT next_attempt_at FROM photo_requests p
            WHERE p.status = 'pending' AND p.code_oc = c.code_oc
            ORDER BY next_attempt_at LIMIT 1
        ) AS first
        """,
        list(codes),
    )
    return value


async def renew_leases(
    pool: Pool, lease_ids: Sequence[uuid.UUID], lease_seconds: float
) -> set[uuid.UUID]:
    """Extend the leases still held; the ones missing from the answer were lost."""
    rows = await pool.fetch(
        "UPDATE photo_requests SET next_attempt_at = now() + make_interval(secs => $2)"
        " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending' RETURNING lease_id",
        list(lease_ids),
        lease_seconds,
    )
    return {row["lease_id"] for row in rows}


async def release_leases(pool: Pool, lease_ids: Sequence[uuid.UUID]) -> None:
    """Give unfinished requests back, due now, so a restart or a replica takes them at once."""
    await pool.execute(
        "UPDATE photo_requests SET next_attempt_at = now(), lease_id = NULL, lease_owner = NULL"
        " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending'",
        list(lease_ids),
    )
