"""The SQL of the limits: the shared row of each OC, and moving requests out of a closure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

Pool = asyncpg.Pool


@dataclass(frozen=True)
class Shared:
    """An OC's row, as read by a claim pass; `now` is the database's clock."""

    now: datetime
    quota_day: date | None
    quota_used: int
    failures: int
    breaker_until: datetime | None


async def ensure_rows(pool: Pool, capacities: dict[str, int]) -> None:
    """A row per limited OC; a new one starts with a full bucket."""
    await pool.execute(
        "INSERT INTO partner_limits (code_oc, tokens)"
        " SELECT * FROM unnest($1::text[], $2::float8[]) ON CONFLICT (code_oc) DO NOTHING",
        list(capacities),
        [float(n) for n in capacities.values()],
    )


# The row is locked before the clock is read, and the clock is read once: the day a call is
# counted on, the refill and, for a refusal, the midnight it waits for all come from one reading.
_TAKE = """
WITH locked AS MATERIALIZED (
    SELECT tokens, refilled_at, quota_day, quota_used FROM partner_limits
    WHERE code_oc = $1 FOR UPDATE
), read AS MATERIALIZED (
    SELECT clock_timestamp() AS at, l.* FROM locked l
), c AS MATERIALIZED (
    SELECT at, tokens, refilled_at, (at AT TIME ZONE $5)::date AS today,
        CASE WHEN quota_day = (at AT TIME ZONE $5)::date THEN quota_used ELSE 0 END AS used
    FROM read
), taken AS (
    UPDATE partner_limits p SET
        tokens = CASE WHEN $2::float8 IS NULL THEN 0 ELSE least($3::float8,
            c.tokens + $2 * extract(epoch FROM c.at - c.refilled_at)) - 1 END,
        refilled_at = c.at, quota_day = c.today, quota_used = c.used + 1, updated_at = c.at
    FROM c
    WHERE p.code_oc = $1 AND ($4::int IS NULL OR c.used < $4)
    RETURNING p.tokens, p.quota_used
)
SELECT c.at, taken.tokens, taken.quota_used FROM c LEFT JOIN taken ON true
"""


@dataclass(frozen=True)
class Take:
    """One call counted, or refused: `tokens` is None when today's quota is spent."""

    at: datetime  # the database's clock that decided
    tokens: float | None
    used: int | None


async def take_call(
    pool: Pool, code: str, rate: float | None, capacity: float, quota: int | None, zone: str
) -> Take:
    """Count one call: the tokens left and the calls today, or a refusal with its clock.

    Tokens below zero are calls promised to callers that wait their turn, which is how
    every replica's callers queue on one bucket without a lock held while they wait.
    """
    row = await pool.fetchrow(_TAKE, code, rate, capacity, quota, zone)
    if row is None:  # made at start-up; gone means someone deleted it
        raise LookupError(f"partner_limits has no row for {code}: restart the worker")
    return Take(row["at"], row["tokens"], row["quota_used"])


async def read_shared(pool: Pool, codes: Sequence[str]) -> dict[str, Shared]:
    rows = await pool.fetch(
        "SELECT now() AS now, code_oc, quota_day, quota_used, failures, breaker_until"
        " FROM partner_limits WHERE code_oc = ANY($1::text[])",
        list(codes),
    )
    return {
        row["code_oc"]: Shared(
            row["now"], row["quota_day"], row["quota_used"], row["failures"], row["breaker_until"]
        )
        for row in rows
    }


_RECORD = """
UPDATE partner_limits p SET
    failures = CASE WHEN $2 THEN $3 ELSE p.failures + $3 END,
    breaker_until = CASE
        WHEN (CASE WHEN $2 THEN $3 ELSE p.failures + $3 END) >= $4
            AND (p.breaker_until IS NULL OR $2) THEN now() + make_interval(secs => $5)
        WHEN $2 THEN NULL
        ELSE p.breaker_until END,
    updated_at = now()
FROM (SELECT breaker_until AS was FROM partner_limits WHERE code_oc = $1 FOR UPDATE) old
WHERE p.code_oc = $1
RETURNING old.was, p.breaker_until, p.failures
"""


async def record_calls(
    pool: Pool, code: str, answered: bool, failures: int, threshold: int, cooldown: float
) -> tuple[datetime | None, datetime | None, int]:
    """Add a tally of calls to the breaker: `answered` if one got a real answer, then `failures`
    transient failures in a row. Returns (open until, before; open until, after; failures)."""
    row = await pool.fetchrow(_RECORD, code, answered, failures, threshold, cooldown)
    if row is None:  # the row is made at start-up; without it there is nothing to record
        return None, None, 0
    return row["was"], row["breaker_until"], row["failures"]


async def take_probe(pool: Pool, code: str, cooldown: float) -> datetime | None:
    """The one replica that lets a probe through once the cool-down is over, if any is due:
    the breaker's new end (another cool-down, unless the probe answers), or None."""
    until: datetime | None = await pool.fetchval(
        "UPDATE partner_limits SET breaker_until = now() + make_interval(secs => $2)"
        " WHERE code_oc = $1 AND breaker_until <= now() AND EXISTS ("
        "  SELECT 1 FROM photo_requests WHERE status = 'pending' AND code_oc = $1"
        "  AND next_attempt_at <= now()) RETURNING breaker_until",
        code,
        cooldown,
    )
    return until


async def return_probe(pool: Pool, code: str, until: datetime) -> bool:
    """A probe that made no call: the cool-down is over again, for the next due request (unless
    the breaker changed meanwhile)."""
    status: str = await pool.execute(
        "UPDATE partner_limits SET breaker_until = now() WHERE code_oc = $1 AND breaker_until = $2",
        code,
        until,
    )
    return status.endswith(" 1")


_DEFER_DUE = """
WITH due AS (
    SELECT message_id FROM photo_requests
    WHERE status = 'pending' AND code_oc = $1 AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT 5000
    FOR UPDATE SKIP LOCKED
)
UPDATE photo_requests p
SET next_attempt_at = $2::timestamptz + random() * make_interval(secs => $3), updated_at = now()
FROM due WHERE p.message_id = due.message_id
"""


async def defer_due(pool: Pool, code: str, until: datetime, spread: float) -> int:
    """Move the OC's due requests to `until`, spread over `spread` seconds; how many moved."""
    status: str = await pool.execute(_DEFER_DUE, code, until, spread)
    return int(status.rsplit(maxsplit=1)[-1])


async def defer_claim(
    pool: Pool, lease_id: uuid.UUID, until: datetime, spread: float, error: str | None = None
) -> bool:
    """Give a claimed request back for later without spending its attempt (`error`, if given,
    says why it will take long)."""
    status: str = await pool.execute(
        "UPDATE photo_requests SET attempts = attempts - 1, interruptions = 0,"
        " next_attempt_at = $2::timestamptz + random() * make_interval(secs => $3),"
        " last_error = coalesce($4, last_error),"
        " lease_id = NULL, lease_owner = NULL, updated_at = now()"
        " WHERE lease_id = $1 AND status = 'pending'",
        lease_id,
        until,
        spread,
        error,
    )
    return status.endswith(" 1")
