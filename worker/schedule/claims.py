"""The SQL of the schedule: claims of due requests, and the leases that hold them.

What an attempt writes when it ends is in `worker/attempt/outcomes.py`; intake's insert is in
`worker/intake/requests.py`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from worker.partners.config import Query

Pool = asyncpg.Pool


@dataclass(frozen=True)
class Claim:
    """A pending request this worker holds until `lease_id` is released or expires.

    Its times are PostgreSQL's: `claimed_at` is the database's clock at the claim, and `now()`
    adds the time elapsed here since, so a worker whose clock is minutes off schedules exactly
    as one whose clock is right.
    """

    message_id: uuid.UUID
    code_oc: str
    references: dict[Query, str | None]
    attempt: int
    not_found_count: int
    received_at: datetime
    lease_id: uuid.UUID
    waiting_since: datetime  # received_at, or the last refetch: where max_wait counts from
    deadline: datetime  # waiting_since + the OC's max_wait
    claimed_at: datetime
    interruptions: int  # attempts in a row, this one included, that ended without an outcome
    last_http_status: int | None = None
    last_error: str | None = None
    actions: tuple[str, ...] = ()  # from the message, for the photo checks
    date_intervention: datetime | None = None
    # False: claimed to wait in the hand; `start_claims` starts it, or it goes back unstarted.
    started: bool = True
    clock: float = field(default_factory=time.monotonic, compare=False)

    def now(self) -> datetime:
        return self.claimed_at + timedelta(seconds=time.monotonic() - self.clock)

    @property
    def overdue(self) -> bool:
        return self.claimed_at >= self.deadline


_CLAIM = """
WITH slots AS (
    SELECT * FROM unnest($1::text[], $2::int[], $6::float8[], $7::int[])
        AS s(code_oc, free, max_wait, start)
), due AS (
    SELECT r.message_id, slots.max_wait, r.rank <= slots.start AS started
    FROM slots CROSS JOIN LATERAL (
        SELECT x.message_id, row_number() OVER (ORDER BY x.next_attempt_at) AS rank
        FROM (
            SELECT message_id, next_attempt_at FROM photo_requests p
            WHERE p.status = 'pending' AND p.code_oc = slots.code_oc
                AND p.next_attempt_at <= now()
            ORDER BY p.next_attempt_at
            LIMIT slots.free
            FOR UPDATE SKIP LOCKED
        ) x
    ) r
    LIMIT $3
)
UPDATE photo_requests p
SET next_attempt_at = now() + make_interval(secs => $4), lease_owner = $5,
    lease_id = gen_random_uuid(), attempts = attempts + due.started::int, updated_at = now(),
    -- Still leased by an attempt that started: it ended without an outcome (killed, lease lost).
    -- A claim that only waited in a hand never started: it costs the request nothing.
    interruptions = p.interruptions + (p.lease_id IS NOT NULL AND p.lease_started)::int,
    lease_started = due.started
FROM due WHERE p.message_id = due.message_id
RETURNING p.message_id, p.code_oc, p.reference_prestation_prise,
    p.reference_commande_prise_interne_oc, p.reference_commande_sous_traitant_oi,
    p.attempts, p.not_found_count, p.received_at, p.lease_id,
    coalesce(p.refetched_at, p.received_at) AS waiting_since,
    coalesce(p.refetched_at, p.received_at) + make_interval(secs => due.max_wait) AS deadline,
    now() AS claimed_at, p.interruptions, p.last_http_status, p.last_error,
    p.actions, p.date_intervention, due.started
"""


async def claim_due(
    pool: Pool,
    free: dict[str, int],
    max_wait: dict[str, float],
    limit: int,
    lease_seconds: float,
    owner: str,
    start: Mapping[str, int] | None = None,
) -> list[Claim]:
    """Take up to `free[oc]` due requests of each OC, `limit` in all, for `lease_seconds`.

    The first `start[oc]` of each OC (all, without `start`) start at once and spend an
    attempt; the others are claimed to wait, unstarted, until `start_claims`.
    SKIP LOCKED lets replicas claim side by side without waiting on each other's rows.
    `max_wait[oc]` (seconds) gives each claim its deadline, on the database's clock.
    """
    codes = [code for code, n in free.items() if n > 0]
    if not codes or limit <= 0:
        return []
    counts = [free[code] for code in codes]
    waits = [max_wait[code] for code in codes]
    starts = [free[code] if start is None else start.get(code, 0) for code in codes]
    rows = await pool.fetch(_CLAIM, codes, counts, limit, lease_seconds, owner, waits, starts)
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
        deadline=row["deadline"],
        claimed_at=row["claimed_at"],
        interruptions=row["interruptions"],
        last_http_status=row["last_http_status"],
        last_error=row["last_error"],
        actions=tuple(row["actions"] or ()),
        date_intervention=row["date_intervention"],
        started=row["started"],
    )


async def pending_of_other_ocs(pool: Pool, codes: Sequence[str]) -> dict[str, int]:
    """Pending requests that no worker with this partners file will ever claim."""
    rows = await pool.fetch(
        "SELECT code_oc, count(*) AS n FROM photo_requests"
        " WHERE status = 'pending' AND code_oc <> ALL($1::text[]) GROUP BY code_oc",
        list(codes),
    )
    return {row["code_oc"]: row["n"] for row in rows}


# One index probe per OC: min() over `code_oc = ANY(...)` would read the whole index.
NEXT_DUE = """
SELECT extract(epoch FROM min(first.next_attempt_at) - now())::float8
FROM unnest($1::text[]) AS c(code_oc) CROSS JOIN LATERAL (
    SELECT next_attempt_at FROM photo_requests p
    WHERE p.status = 'pending' AND p.code_oc = c.code_oc
    ORDER BY next_attempt_at LIMIT 1
) AS first
"""


async def seconds_to_next_due(pool: Pool, codes: Sequence[str]) -> float | None:
    """How long until the next request falls due, by the database's clock; None if none waits."""
    value: float | None = await pool.fetchval(NEXT_DUE, list(codes))
    return value


# A renewal must be done within this share of the lease, or its leases are taken as lost.
RENEWAL_SHARE = 0.25


async def renew_leases(
    pool: Pool, lease_ids: Sequence[uuid.UUID], lease_seconds: float
) -> set[uuid.UUID]:
    """Extend the leases still held; the ones missing from the answer were lost.

    A renewal that waited on a lock (an index build, a pg_repack swap, a row lock) may update a
    row long after it was sent, and the lease it set is counted from when the row was computed,
    which for a row lock is before the wait. So the answer is read on the clock after the
    update: a lease left with less than it should have is taken as lost and given back, due at
    once, rather than kept by a worker that would then run past its end.
    """
    rows = await pool.fetch(
        "UPDATE photo_requests SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)"
        " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending'"
        " RETURNING lease_id,"
        " extract(epoch FROM next_attempt_at - clock_timestamp())::float8 AS remaining",
        list(lease_ids),
        lease_seconds,
    )
    enough = lease_seconds * (1 - RENEWAL_SHARE)
    late = [row["lease_id"] for row in rows if row["remaining"] < enough]
    if late:
        await release_leases(pool, late)
    return {row["lease_id"] for row in rows if row["remaining"] >= enough}


async def start_claims(
    pool: Pool, lease_ids: Sequence[uuid.UUID], lease_seconds: float
) -> dict[uuid.UUID, int]:
    """Start claims that waited in the hand: each spends its attempt, if its lease still holds
    with most of a lease ahead (renewed here too); the attempt number of each one started."""
    rows = await pool.fetch(
        "UPDATE photo_requests SET attempts = attempts + 1, lease_started = true,"
        " next_attempt_at = clock_timestamp() + make_interval(secs => $2), updated_at = now()"
        " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending'"
        " AND next_attempt_at > clock_timestamp()"
        " RETURNING lease_id, attempts,"
        " extract(epoch FROM next_attempt_at - clock_timestamp())::float8 AS remaining",
        list(lease_ids),
        lease_seconds,
    )
    enough = lease_seconds * (1 - RENEWAL_SHARE)
    late = [row["lease_id"] for row in rows if row["remaining"] < enough]
    if late:  # held up by a lock past its lease: not started after all, due at once
        await pool.execute(
            "UPDATE photo_requests SET attempts = attempts - 1, lease_started = false,"
            " next_attempt_at = now(), lease_id = NULL, lease_owner = NULL"
            " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending'",
            late,
        )
    return {row["lease_id"]: row["attempts"] for row in rows if row["remaining"] >= enough}


async def give_back(pool: Pool, lease_id: uuid.UUID, at: datetime, spread: float) -> None:
    """An unstarted claim back to the schedule, due from `at` over `spread` seconds."""
    await pool.execute(
        "UPDATE photo_requests SET next_attempt_at = $2::timestamptz"
        " + random() * make_interval(secs => $3), lease_id = NULL, lease_owner = NULL,"
        " updated_at = now() WHERE lease_id = $1 AND status = 'pending'",
        lease_id,
        at,
        spread,
    )


async def note_interruption(pool: Pool, lease_id: uuid.UUID, error: str) -> None:
    """An attempt ended on an error of ours before its outcome: say so, and let the request fall
    due when the lease would have ended. The claim counts it as an interruption."""
    await pool.execute(
        "UPDATE photo_requests SET last_error = $2, lease_id = NULL, lease_owner = NULL,"
        " interruptions = interruptions + 1, updated_at = now()"
        " WHERE lease_id = $1 AND status = 'pending'",
        lease_id,
        error,
    )


async def release_leases(pool: Pool, lease_ids: Sequence[uuid.UUID]) -> None:
    """Give unfinished requests back, due now, so a restart or a replica takes them at once."""
    await pool.execute(
        "UPDATE photo_requests SET next_attempt_at = now(), lease_id = NULL, lease_owner = NULL"
        " WHERE lease_id = ANY($1::uuid[]) AND status = 'pending'",
        list(lease_ids),
    )
