"""Before each claim: which OCs may be called now, and what happens to the requests of the others.

An OC closed by its hours, whose quota is spent or whose breaker is open gets no claim; its due
requests are moved to the end of the block, spread over the OC's `spread`, without spending an
attempt. When the breaker's cool-down is over, one replica lets one request through as a probe.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

from worker.limits import ledger
from worker.limits.gate import PartnerGate, next_day
from worker.observe.metrics import Metrics
from worker.partners.agreement import DailyQuota
from worker.partners.config import PartnerConfig

log = structlog.get_logger()
REASONS = ("hours", "quota", "breaker")


class Claimed(Protocol):
    """What the gatekeeper reads of a claim (`worker.schedule.claims.Claim`)."""

    @property
    def code_oc(self) -> str: ...

    @property
    def lease_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class Block:
    reason: str
    until: datetime


class Gatekeeper:
    """Shared by the claim passes of one worker; `gates` are the OCs with conditions of use."""

    def __init__(self, pool: asyncpg.Pool, gates: Mapping[str, PartnerGate], metrics: Metrics):
        self._pool = pool
        self._gates = dict(gates)
        self._metrics = metrics
        self._blocks: dict[str, Block | None] = {}
        self._shared: dict[str, ledger.Shared] = {}  # as the last claim pass read it

    async def open(self) -> None:
        """A shared row for each limited OC (kept across restarts)."""
        if self._gates:
            capacities = {
                c: g.config.rate.capacity if g.config.rate else 0 for c, g in self._gates.items()
            }
            await ledger.ensure_rows(self._pool, capacities)

    async def admit(self, free: dict[str, int]) -> dict[str, int]:
        """The free slots the OCs' conditions allow now: 0 when blocked, 1 for a probe."""
        if not self._gates:
            return free
        await self._flush_tallies()
        shared = await ledger.read_shared(self._pool, list(self._gates))
        admitted = dict(free)
        for code, gate in self._gates.items():
            if code in free and code in shared:
                admitted[code] = await self._admit(gate, shared[code], free[code])
        return admitted

    def holds(self, code: str, now: datetime, lease_id: uuid.UUID) -> Block | None:
        """Why the OC may not be called at `now` (the database's clock), from what the last
        claim pass read: its hours as of `now`, its quota and breaker as read then. No
        statement: a claim that waited in the hand asks this before it starts."""
        gate, shared = self._gates.get(code), self._shared.get(code)
        if gate is None or shared is None:
            return None
        block = block_of(gate.config, dataclasses.replace(shared, now=now))
        if block is not None and block.reason == "breaker" and block.until <= now:
            if gate.probe_lease == lease_id:
                return None  # the probe itself
            return Block("breaker", now)  # the probe is the claim pass's to let through
        return block

    async def _admit(self, gate: PartnerGate, shared: ledger.Shared, free: int) -> int:
        self._shared[gate.code] = shared
        self._report(gate, shared)
        block = block_of(gate.config, shared)
        self._note(gate, block)
        if block is None:
            return free
        if block.reason == "breaker" and block.until <= shared.now:
            return await self._probe(gate, free)  # the cool-down is over
        moved = await ledger.defer_due(
            self._pool, gate.code, block.until, gate.config.spread.total_seconds()
        )
        if moved:
            self._metrics.deferred.labels(gate.code, block.reason).inc(moved)
        return 0

    async def _probe(self, gate: PartnerGate, free: int) -> int:
        assert gate.config.breaker is not None  # block_of: only a configured breaker holds
        cooldown = gate.config.breaker.cooldown.total_seconds()
        if not free:
            return 0
        gate.probe = await ledger.take_probe(self._pool, gate.code, cooldown)
        gate.probe_lease = None
        if gate.probe is None:
            return 0
        log.info("circuit breaker: one request let through as a probe", oc=gate.code)
        return 1

    async def claimed(self, taken: Sequence[Claimed]) -> None:
        """After a claim pass: each probe goes with the claim of its OC, or back if none."""
        for gate in self._gates.values():
            if gate.probe is None or gate.probe_lease is not None:
                continue
            lease = next((c.lease_id for c in taken if c.code_oc == gate.code), None)
            if lease is None:
                await gate.return_probe()
            else:
                gate.probe_lease = lease

    def _note(self, gate: PartnerGate, block: Block | None) -> None:
        """One log line when an OC's block begins, changes reason or ends, and the gauges.

        The breaker's changes are logged once for all replicas, by the one that makes them.
        """
        before = self._blocks.get(gate.code)
        self._blocks[gate.code] = block
        now = block.reason if block else None
        for reason in REASONS:
            self._metrics.partner_blocked.labels(gate.code, reason).set(int(now == reason))
        if now == "breaker" or (before and before.reason == "breaker" and block is None):
            return
        if block is not None and (before is None or before.reason != block.reason):
            log.info(
                "partner not called for now",
                oc=gate.code,
                reason=block.reason,
                until=block.until.isoformat(),
            )
        elif block is None and before is not None:
            log.info("partner called again", oc=gate.code, was=before.reason)

    def _report(self, gate: PartnerGate, shared: ledger.Shared) -> None:
        code, quota = gate.code, gate.config.quota
        self._metrics.breaker_open.labels(code).set(int(shared.breaker_until is not None))
        if quota is not None:
            self._metrics.quota_limit.labels(code).set(quota.calls)
            self._metrics.quota_used.labels(code).set(quota_used_today(quota, shared))

    async def _flush_tallies(self) -> None:
        for code, gate in self._gates.items():
            breaker = gate.config.breaker
            if breaker is None or not (gate.tally.answered or gate.tally.failures):
                continue
            tally = gate.tally.take()
            was, now, failures = await ledger.record_calls(
                self._pool,
                code,
                tally.answered,
                tally.failures,
                breaker.failures,
                breaker.cooldown.total_seconds(),
            )
            if was is None and now is not None:
                log.warning(
                    "circuit breaker opened", oc=code, failures=failures, until=now.isoformat()
                )
            elif was is not None and now is None:
                log.info("circuit breaker closed", oc=code)


def is_limited(config: PartnerConfig) -> bool:
    return any(x is not None for x in (config.rate, config.quota, config.hours, config.breaker))


def quota_used_today(quota: DailyQuota, shared: ledger.Shared) -> int:
    today = shared.now.astimezone(quota.zone).date()
    return shared.quota_used if shared.quota_day == today else 0


def block_of(config: PartnerConfig, shared: ledger.Shared) -> Block | None:
    """Why the OC may not be called at `shared.now`, and until when; None if it may."""
    now = shared.now
    if config.hours is not None and (until := config.hours.timetable.closed_until(now)):
        return Block("hours", until)
    quota = config.quota
    if quota is not None and quota_used_today(quota, shared) >= quota.calls:
        return Block("quota", next_day(now, quota.zone))
    # A breaker taken out of the partners file while open no longer holds: nothing would close it.
    if config.breaker is not None and shared.breaker_until is not None:  # past: a probe may go
        return Block("breaker", shared.breaker_until)
    return None
