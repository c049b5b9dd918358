"""The SQL of requests: intake, claims and leases, and the outcome of each attempt."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from worker.messages import CrStoc
from worker.partners import Query
from worker.verdicts import Refusal

Pool = asyncpg.Pool
# What pool.acquire() gives, or a plain connection: both run queries the same way.
Conn = asyncpg.Connection | PoolConnectionProxy


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


@dataclass(frozen=True)
class AttemptRecord:
    """One row of request_attempts: what was asked, what came back, what was decided."""

    started_at: datetime
    operation: str | None
    reference: str | None
    http_status: int | None
    request_id: uuid.UUID | None
    outcome: str
    error: str | None


async def insert_request(pool: Pool, message: CrStoc) -> bool:
    """True if the request is new; a known messageId changes nothing."""
    row = await pool.fetchval(
        """
        INSERT INTO photo_requests (message_id, code_oc, reference_prestation_prise,
            reference_commande_prise_interne_oc, reference_commande_sous_traitant_oi,
            date_intervention, resultat, actions, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id
        """,
        message.message_id,
        message.code_oc,
        message.reference_prestation_prise,
        message.reference_commande_prise_interne_oc,
        message.reference_commande_sous_traitant_oi,
        message.date_intervention,
        message.resultat,
        [a.value for a in message.actions] if message.actions is not None else None,
    )
    return row is not None


async def record_dead_letter(
    pool: Pool, message_id: str | None, reason: str, detail: str, body: bytes, worker: str
) -> None:
    await pool.execute(
        "INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker)"
        " VALUES ($1, $2, $3, $4, $5)",
        message_id,
        reason,
        detail,
        body[:2000].decode("utf-8", errors="replace").replace("\x00", ""),
        worker,
    )


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
    value: datetime | None = await pool.fetchval(
        "SELECT min(next_attempt_at) FROM photo_requests"
        " WHERE status = 'pending' AND code_oc = ANY($1::text[])",
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


async def record_attempt(
    conn: Conn,
    claim: Claim,
    record: AttemptRecord,
    worker: str,
    next_at: datetime | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO request_attempts (message_id, attempt, worker, operation, reference,
            http_status, x_request_id, outcome, error, started_at, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        claim.message_id,
        claim.attempt,
        worker,
        record.operation,
        record.reference,
        record.http_status,
        record.request_id,
        record.outcome,
        record.error,
        record.started_at,
        next_at,
    )


async def reschedule(
    pool: Pool,
    claim: Claim,
    record: AttemptRecord,
    *,
    next_at: datetime,
    not_found_count: int,
    ready_at: datetime | None,
    worker: str,
) -> bool:
    """Keep the request pending until `next_at`; False if the lease was lost meanwhile."""
    async with pool.acquire() as conn, conn.transaction():
        updated = await conn.fetchval(
            """
            UPDATE photo_requests
            SET next_attempt_at = $2, last_http_status = $3, last_error = $4,
                not_found_count = $5, first_ready_at = coalesce(first_ready_at, $6),
                lease_id = NULL, lease_owner = NULL, updated_at = now()
            WHERE lease_id = $1 AND status = 'pending'
            RETURNING 1
            """,
            claim.lease_id,
            next_at,
            record.http_status,
            record.error,
            not_found_count,
            ready_at,
        )
        if updated is None:
            return False
        await record_attempt(conn, claim, record, worker, next_at)
        return True


async def finish(
    pool: Pool,
    claim: Claim,
    record: AttemptRecord,
    *,
    status: str,
    refusals: Sequence[Refusal],
    ready_at: datetime | None,
    worker: str,
) -> dict[str, Any] | None:
    """Final status, refusals, attempt and event in one transaction; None if the lease was lost."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE photo_requests
            SET status = $2, next_attempt_at = NULL, completed_at = now(), last_http_status = $3,
                last_error = $4, first_ready_at = coalesce(first_ready_at, $5),
                lease_id = NULL, lease_owner = NULL, updated_at = now()
            WHERE lease_id = $1 AND status = 'pending'
            RETURNING message_id, code_oc, reference_prestation_prise,
                reference_commande_prise_interne_oc, reference_commande_sous_traitant_oi,
                attempts, completed_at
            """,
            claim.lease_id,
            status,
            record.http_status,
            record.error,
            ready_at,
        )
        if row is None:
            return None
        await _save_refusals(conn, claim, refusals)
        await record_attempt(conn, claim, record, worker, None)
        event = await _event(conn, row, status, record.error)
        await conn.execute(
            "INSERT INTO outbox (message_id, routing_key, body) VALUES ($1, $2, $3::jsonb)",
            claim.message_id,
            f"photos.{status}",
            json.dumps(event),
        )
        return event


async def _save_refusals(conn: Conn, claim: Claim, refusals: Sequence[Refusal]) -> None:
    await conn.executemany(
        "INSERT INTO photo_refusals (message_id, code_oc, photo_id, reason, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(claim.message_id, claim.code_oc, r.photo_id, r.reason, r.detail) for r in refusals],
    )


async def _event(conn: Conn, row: asyncpg.Record, status: str, error: str | None) -> dict[str, Any]:
    photos = await conn.fetch(
        """
        SELECT p.photo_id, p.type, p.storage_key, p.sha256
        FROM photo_request_photos l JOIN photos p USING (code_oc, photo_id)
        WHERE l.message_id = $1 ORDER BY p.type, p.photo_id
        """,
        row["message_id"],
    )
    return {
        "messageId": str(row["message_id"]),
        "codeOC": row["code_oc"],
        "referencePrestationPrise": row["reference_prestation_prise"],
        "referenceCommandePriseInterneOC": row["reference_commande_prise_interne_oc"],
        "referenceCommandeSousTraitantOI": row["reference_commande_sous_traitant_oi"],
        "status": status,
        "photos": [
            {
                "photoId": str(p["photo_id"]),
                "type": p["type"],
                "storageKey": p["storage_key"],
                "sha256": p["sha256"],
            }
            for p in photos
        ],
        "attempts": row["attempts"],
        "completedAt": row["completed_at"].isoformat(),
        "error": error,
    }
