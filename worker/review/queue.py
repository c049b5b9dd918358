"""The SQL of the review queue: claims of requests waiting for review, their leases, the crash
count of their photos, and the backlog. The final write is in `record.py`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from worker.findings.model import RequestView
from worker.findings.requests import PHOTO_COLUMNS


@dataclass(frozen=True)
class ReviewClaim:
    """A request this reviewer holds until `lease_id` is released or expires."""

    message_id: uuid.UUID
    code_oc: str
    lease_id: uuid.UUID
    queued_at: datetime
    stored_at: datetime
    claims: int  # since it was queued, this one included
    failures: dict[str, int]  # photo id -> checks crashed or overran
    reviews: int  # done before this one


_CLAIM = """
WITH due AS (
    SELECT message_id FROM request_reviews
    WHERE reviewed_at IS NULL AND (lease_until IS NULL OR lease_until < now())
    ORDER BY queued_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE request_reviews r
SET lease_id = gen_random_uuid(), lease_owner = $2,
    lease_until = now() + make_interval(secs => $3), claims = r.claims + 1
FROM due WHERE r.message_id = due.message_id
RETURNING r.message_id, r.code_oc, r.lease_id, r.queued_at, r.stored_at, r.claims,
    r.failures::text AS failures, r.reviews
"""


async def claim(
    pool: asyncpg.Pool, limit: int, owner: str, lease_seconds: float
) -> list[ReviewClaim]:
    """Up to `limit` requests waiting for review, oldest first; SKIP LOCKED lets replicas claim
    side by side, and a lease left by a killed worker is taken once it has expired."""
    if limit <= 0:
        return []
    rows = await pool.fetch(_CLAIM, limit, owner, lease_seconds)
    return [
        ReviewClaim(
            message_id=row["message_id"],
            code_oc=row["code_oc"],
            lease_id=row["lease_id"],
            queued_at=row["queued_at"],
            stored_at=row["stored_at"],
            claims=row["claims"],
            failures=json.loads(row["failures"]),
            reviews=row["reviews"],
        )
        for row in rows
    ]


_REQUEST = """
SELECT message_id, code_oc, reference_prestation_prise, reference_commande_prise_interne_oc,
    reference_commande_sous_traitant_oi, actions, date_intervention, reference_pto,
    (SELECT coalesce(array_agg(DISTINCT p.type), '{}') FROM photo_request_photos l
     JOIN photos p USING (code_oc, photo_id) WHERE l.message_id = r.message_id) AS types
FROM photo_requests r WHERE message_id = $1
"""

_PHOTOS = f"""
SELECT {PHOTO_COLUMNS}, p.mime_type, p.storage_key, coalesce(p.checked_at >= $2, false) AS fresh
FROM photo_request_photos l JOIN photos p USING (code_oc, photo_id)
WHERE l.message_id = $1
ORDER BY p.type, p.photo_id
"""  # noqa: S608 - constant columns


async def request_of(pool: asyncpg.Pool, claim: ReviewClaim) -> RequestView | None:
    """The request as the checks see it; None if it was purged meanwhile."""
    row = await pool.fetchrow(_REQUEST, claim.message_id)
    if row is None:
        return None
    return RequestView(
        message_id=row["message_id"],
        code_oc=row["code_oc"],
        references={
            "intervention": row["reference_commande_sous_traitant_oi"],
            "order": row["reference_commande_prise_interne_oc"],
            "access": row["reference_prestation_prise"],
        },
        actions=tuple(row["actions"] or ()),
        date_intervention=row["date_intervention"],
        listed_types=frozenset(row["types"]),
        reference_pto=row["reference_pto"],
    )


async def photos_of(pool: asyncpg.Pool, claim: ReviewClaim) -> list[asyncpg.Record]:
    """The request's stored photos; `fresh` ones were measured since it was queued."""
    return await pool.fetch(_PHOTOS, claim.message_id, claim.queued_at)


async def note_failure(pool: asyncpg.Pool, lease_id: uuid.UUID, photo_id: uuid.UUID) -> int | None:
    """Count one more crash or overrun of this photo's check; None if the lease was lost."""
    value: int | None = await pool.fetchval(
        "UPDATE request_reviews SET failures = jsonb_set(failures, ARRAY[$2::text],"
        " to_jsonb(coalesce((failures ->> $2::text)::int, 0) + 1))"
        " WHERE lease_id = $1 AND reviewed_at IS NULL"
        " RETURNING (failures ->> $2::text)::int",
        lease_id,
        str(photo_id),
    )
    return value


async def renew(
    pool: asyncpg.Pool, lease_ids: Sequence[uuid.UUID], lease_seconds: float
) -> set[uuid.UUID]:
    """Extend the leases still held; the ones missing from the answer were lost."""
    rows = await pool.fetch(
        "UPDATE request_reviews SET lease_until = now() + make_interval(secs => $2)"
        " WHERE lease_id = ANY($1::uuid[]) AND reviewed_at IS NULL RETURNING lease_id",
        list(lease_ids),
        lease_seconds,
    )
    return {row["lease_id"] for row in rows}


async def release(pool: asyncpg.Pool, lease_ids: Sequence[uuid.UUID]) -> None:
    """Give unfinished reviews back at once (shutdown), not counted as interrupted."""
    await pool.execute(
        "UPDATE request_reviews SET lease_id = NULL, lease_owner = NULL, lease_until = NULL,"
        " claims = greatest(claims - 1, 0) WHERE lease_id = ANY($1::uuid[])"
        " AND reviewed_at IS NULL",
        list(lease_ids),
    )
