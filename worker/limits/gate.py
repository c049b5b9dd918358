"""What stands before each call to one OC: its turn under the rate limit, its daily quota, and
the tally of answers and failures that its circuit breaker is fed with."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

import asyncpg
import structlog

from worker.limits import ledger
from worker.observe.metrics import Metrics
from worker.partners.client import CallRefused
from worker.partners.config import PartnerConfig

log = structlog.get_logger()


@dataclass
class Tally:
    """Calls since the last flush: whether one was answered, then the failures in a row."""

    answered: bool = False
    failures: int = 0

    def add(self, answered: bool) -> None:
        if answered:
            self.answered, self.failures = True, 0
        else:
            self.failures += 1

    def take(self) -> Tally:
        taken = Tally(self.answered, self.failures)
        self.answered, self.failures = False, 0
        return taken


class PartnerGate:
    """The `Gate` of one OC's client (see `worker.partners.client`)."""

    def __init__(
        self, code: str, config: PartnerConfig, pool: asyncpg.Pool, metrics: Metrics
    ) -> None:
        self.code = code
        self.config = config
        self.tally = Tally()
        # The probe this process let through: the breaker's end it set, and the claim it went to.
        self.probe: datetime | None = None
        self.probe_lease: uuid.UUID | None = None
        self._pool = pool
        self._metrics = metrics

    @property
    def counted(self) -> bool:
        """Whether each call is counted in the shared row (a rate limit or a quota)."""
        return self.config.rate is not None or self.config.quota is not None

    async def before_call(self) -> None:
        if not self.counted:
            return
        rate, quota = self.config.rate, self.config.quota
        taken = await ledger.take_call(
            self._pool,
            self.code,
            rate.per_second if rate else None,
            rate.capacity if rate else 0,
            quota.calls if quota else None,
            quota.timezone if quota else "UTC",
        )
        tokens = taken.tokens
        if tokens is None:
            assert quota is not None  # only a quota refuses a call
            raise CallRefused("quota", next_day(taken.at, quota.zone))
        if quota is not None and taken.used is not None:
            self._metrics.quota_used.labels(self.code).set(taken.used)
        if rate is not None and tokens < 0:
            wait = -tokens / rate.per_second
            self._metrics.rate_waited.labels(self.code).inc(wait)
            await asyncio.sleep(wait)

    def after_call(self, answered: bool | None) -> None:
        if self.config.breaker is not None and answered is not None:
            self.tally.add(answered)

    async def unspent(self, lease_id: uuid.UUID) -> None:
        """The claim ends without calling the OC: if it carried the probe, the probe goes back."""
        if self.probe is not None and self.probe_lease == lease_id:
            await self.return_probe()

    async def return_probe(self) -> None:
        until, self.probe, self.probe_lease = self.probe, None, None
        if until is not None and await ledger.return_probe(self._pool, self.code, until):
            log.info("circuit breaker: the probe made no call; the next due request takes it")


def next_day(now: datetime, zone: tzinfo) -> datetime:
    """Midnight at the start of the day after `now`'s, in `zone`."""
    local = now.astimezone(zone)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=local.tzinfo)
