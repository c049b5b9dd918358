"""How a migration waits for its locks: briefly, and again later, a bounded number of times.

Every statement of a migration runs under `lock_timeout`. Without it, a statement that cannot
have its lock at once (a long transaction holds the table) queues, and every statement asking
for the table after it (intake's inserts, the claims, the lease renewals) queues behind it for
as long as that holder keeps its lock. With it, the migration gives up after `timeout_seconds`,
lets the queue drain, and tries again after a growing pause (exponential, with jitter).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = structlog.get_logger()

# lock_timeout gives 55P03; a deadlock with the traffic (40P01) is the same story: try later.
LOCK_ERRORS = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError)


@dataclass(frozen=True)
class LockPolicy:
    """WORKER_MIGRATE_LOCK_TIMEOUT_SECONDS and WORKER_MIGRATE_LOCK_RETRIES."""

    timeout_seconds: float = 1.0
    retries: int = 10
    first_pause_seconds: float = 0.5
    longest_pause_seconds: float = 30.0

    @property
    def lock_timeout(self) -> str:
        """The value of PostgreSQL's `lock_timeout` (milliseconds; 0 would mean no limit)."""
        return str(max(1, round(self.timeout_seconds * 1000)))


class LocksUnavailable(Exception):
    """A statement could not have its locks within the timeout, retries included."""

    def __init__(self, error: BaseException, tries: int, holders: list[str]) -> None:
        self.error, self.tries, self.holders = error, tries, holders
        super().__init__(f"{error} ({tries} tries)")


async def patiently(
    conn: asyncpg.Connection,
    policy: LockPolicy,
    action: Callable[[], Awaitable[None]],
    **context: str,
) -> int:
    """Run `action` until it has its locks; returns the retries it took."""

    async def log_wait(state: RetryCallState) -> None:
        await _log_wait(conn, policy, state, context)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.retries + 1),
        wait=wait_exponential_jitter(
            multiplier=policy.first_pause_seconds,
            jitter=policy.first_pause_seconds,
            max=policy.longest_pause_seconds,
        ),
        retry=retry_if_exception_type(LOCK_ERRORS),
        before_sleep=log_wait,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await action()
    except LOCK_ERRORS as exc:
        holders = await long_transactions(conn, policy.timeout_seconds)
        raise LocksUnavailable(exc, policy.retries + 1, holders) from exc
    tries: int = retrying.statistics.get("attempt_number", 1)
    return tries - 1


async def _log_wait(
    conn: asyncpg.Connection, policy: LockPolicy, state: RetryCallState, context: dict[str, str]
) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "migration waiting for a lock",
        **context,
        error=str(error),
        attempt=state.attempt_number,
        of=policy.retries + 1,
        pause_seconds=round(state.upcoming_sleep, 2),
        long_transactions=await long_transactions(conn, policy.timeout_seconds),
    )


async def long_transactions(conn: asyncpg.Connection, seconds: float) -> list[str]:
    """The other sessions of this database in a transaction for longer than `seconds`: who is
    likely to hold the lock (the one we waited for is no longer known once we gave up)."""
    rows = await conn.fetch(
        """
        SELECT pid, application_name, state, wait_event_type,
            round(extract(epoch FROM clock_timestamp() - xact_start)::numeric, 1) AS seconds,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS query
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND xact_start < clock_timestamp() - make_interval(secs => $1)
        ORDER BY xact_start LIMIT 5
        """,
        seconds,
    )
    return [
        f"pid {r['pid']} ({r['application_name'] or '?'}, {r['state']}, {r['seconds']} s"
        f" in its transaction): {r['query']}"
        for r in rows
    ]
