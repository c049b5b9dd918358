"""A call refused by the quota just before midnight waits for that midnight, not the next one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from tests.services import wait_until
from worker.limits.gate import PartnerGate
from worker.observe.metrics import Metrics
from worker.partners.agreement import DailyQuota
from worker.partners.client import CallRefused
from worker.partners.config import PartnerConfig

pytestmark = pytest.mark.services


def _zone_with_midnight_at(midnight: datetime) -> tuple[str, timezone]:
    """A fixed-offset zone (PostgreSQL's POSIX spelling, Python's tzinfo) whose day ends then."""
    offset = -int(midnight.timestamp()) % 86400
    if offset > 43200:
        offset -= 86400
    hours, rest = divmod(abs(offset), 3600)
    minutes, seconds = divmod(rest, 60)
    posix = f"XYZ{'-' if offset >= 0 else '+'}{hours:02}:{minutes:02}:{seconds:02}"
    return posix, timezone(timedelta(seconds=offset))


class ClockPassesMidnight:
    """The pool, but after each statement the database's clock is let run past `midnight`:
    what a slow event loop or a busy machine may do between two statements."""

    def __init__(self, pool: asyncpg.Pool, midnight: datetime) -> None:
        self._pool = pool
        self._midnight = midnight

    async def _after(self) -> None:
        async def past() -> bool:
            now: datetime = await self._pool.fetchval("SELECT clock_timestamp()")
            return now > self._midnight + timedelta(seconds=0.2)

        await wait_until(past, what="midnight to pass")

    async def fetchrow(self, *args: Any) -> Any:
        try:
            return await self._pool.fetchrow(*args)
        finally:
            await self._after()

    async def fetchval(self, *args: Any) -> Any:
        try:
            return await self._pool.fetchval(*args)
        finally:
            await self._after()


async def test_a_refusal_at_midnight_resumes_at_that_midnight(db: asyncpg.Pool) -> None:
    now: datetime = await db.fetchval("SELECT clock_timestamp()")
    midnight = now.replace(microsecond=0) + timedelta(seconds=3)
    posix, zone = _zone_with_midnight_at(midnight)
    assert (midnight.astimezone(zone).hour, midnight.astimezone(zone).minute) == (0, 0)
    quota = DailyQuota.model_construct(calls=1, timezone=posix)
    quota.__dict__["zone"] = zone  # what the cached property would hold for an IANA name
    config = PartnerConfig(base_url="http://127.0.0.1:9", quota=quota)  # type: ignore[arg-type]
    today = now.astimezone(zone).date()
    await db.execute(
        "INSERT INTO partner_limits (code_oc, tokens, quota_day, quota_used)"
        " VALUES ('OCAA', 0, $1, 1)",
        today,
    )
    gate = PartnerGate("OCAA", config, ClockPassesMidnight(db, midnight), Metrics())  # type: ignore[arg-type]

    with pytest.raises(CallRefused) as refused:
        await gate.before_call()

    assert refused.value.reason == "quota"
    # Refused on the last day (its one call was spent), so free again at the midnight that ended
    # it: not a whole day later.
    assert refused.value.until == midnight.astimezone(UTC)
    assert await db.fetchval("SELECT quota_day FROM partner_limits") == today
