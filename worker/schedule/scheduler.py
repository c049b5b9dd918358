"""Claims due requests from PostgreSQL and runs their attempts, within per-OC and global limits.

Waiting requests cost nothing here: they are rows with a `next_attempt_at`, not tasks or timers.
The loop sleeps until the earliest due time (at most `poll_seconds`) or until woken by intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import asyncpg
import structlog

from worker.border import Sanitizer
from worker.database.batching import Batcher
from worker.limits.gatekeeper import Block
from worker.observe.failures import DB_ERRORS, report_failure
from worker.observe.metrics import Metrics
from worker.partners.config import Partner
from worker.schedule import claims
from worker.schedule.claims import Claim
from worker.schedule.hand import Hand
from worker.settings import Settings

log = structlog.get_logger()
# Timer wake-ups are at least this share of poll_seconds apart (0.5 s by default): requests
# falling due one after the other are then claimed, asked and written back together, a few
# statements for a batch instead of several per request. An attempt starts at most that late.
_BATCH_WINDOW = 0.25
_RELEASE_SECONDS = 2.0
# The share of a lease kept between a renewal given up and the end of the lease it renews: the
# cancelled attempts stop within it.
_MARGIN = 1 / 6


Run = Callable[[Claim], Awaitable[object]]
# The free slots per OC that the OCs' conditions of use allow now (see `worker/limits/`).
Admit = Callable[[dict[str, int]], Awaitable[dict[str, int]]]


Holds = Callable[[str, datetime, uuid.UUID], Block | None]
# Told of each claim pass's claims (the gatekeeper hands its probe to one, or takes it back).
Claimed = Callable[[list[Claim]], Awaitable[None]]


async def _admit_all(free: dict[str, int]) -> dict[str, int]:
    return free


def _holds_none(code: str, now: datetime, lease_id: uuid.UUID) -> Block | None:
    return None


async def _claimed_nothing(taken: list[Claim]) -> None:
    return None


class Scheduler:
    """Claims for `run` (one attempt), up to each OC's `concurrency` at once; knows nothing of
    HTTP. An attempt that ends on an error is noted on its request, cleaned by `sanitizer`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: Metrics,
        partners: Mapping[str, Partner],
        run: Run,
        sanitizer: Sanitizer,
        rng: random.Random,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._metrics = metrics
        self._run = run
        self._sanitizer = sanitizer
        self._rng = rng  # the order in which OCs are offered slots
        self.admit: Admit = _admit_all  # the OCs' conditions of use, when the service sets them
        # True while intake reads a backlog: it goes first (see run()).
        self.hold: Callable[[], bool] = lambda: False
        self._hand = Hand(
            {code: p.config.concurrency for code, p in partners.items()}, settings.concurrency
        )
        self._max_wait = {code: p.config.max_wait.total_seconds() for code, p in partners.items()}
        self._spread = {code: p.config.spread.total_seconds() for code, p in partners.items()}
        # Whether an OC's conditions forbid a call now (see `worker/limits/`), for waiting claims.
        self.holds: Holds = _holds_none
        self.claimed: Claimed = _claimed_nothing
        # Waiting claims that start together share one statement.
        self._starts: Batcher[uuid.UUID, int | None] = Batcher(self._start_many, max_batch=500)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        # Held while a claim is in flight, so that drain() sees the attempts it starts.
        self._claiming = asyncio.Lock()
        self._closed = False

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> int:
        """Attempts under way in this process."""
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and start attempts until `stop` is set; running attempts are left to drain()."""
        settings = self._settings
        while not stop.is_set():
            # Cleared before claiming: a wake-up that comes during the claim is not lost.
            self._wake.clear()
            try:
                claimed = await self._claim()
            except Exception as exc:
                report_failure(self._metrics, exc, "claiming due requests failed")
                await _wait(stop, settings.poll_seconds)
                continue
            if self.hold():
                # A catch-up day: recording the backlog comes first, so claims are made once per
                # poll instead of at every wake-up; attempts still go on, slowly, meanwhile.
                await _wait(stop, settings.poll_seconds)
            elif not claimed or not self._hand.wants_claim():
                await self._sleep(stop)  # a claim now would find nothing more, or no room

    def _has_room(self) -> bool:
        return self._hand.room(len(self._tasks)) > 0 and bool(self._hand.wanted())

    async def _claim(self) -> int:
        async with self._claiming:
            if self._closed or not self._has_room():
                return 0
            settings = self._settings
            room = self._hand.room(len(self._tasks))
            wanted = self._hand.wanted()
            # A new order each time, so that when the global limit binds no OC always comes last.
            codes = list(wanted)
            self._rng.shuffle(codes)
            asked = await self.admit({code: wanted[code] for code in codes})
            start = self._hand.plan(asked, len(self._tasks))
            taken = await claims.claim_due(
                self._pool,
                asked,
                self._max_wait,
                room,
                settings.lease_seconds,
                settings.instance,
                start,
            )
            if self._closed:  # drain() began meanwhile: these go back at once, unrun
                await claims.release_leases(self._pool, [claim.lease_id for claim in taken])
                taken = []
            await self.claimed(taken)
            if self._closed:
                return 0
            for claim in self._hand.took(asked, taken, room):
                self._start(claim)
            self._start_waiting()
            return len(taken)

    def _start_waiting(self) -> None:
        if not self._closed:
            for claim in list(self._hand.startable(len(self._tasks))):
                self._start(claim)

    def _start(self, claim: Claim) -> None:
        self._metrics.in_flight.labels(claim.code_oc).inc()
        task = asyncio.create_task(self._attempt(claim), name=f"attempt-{claim.message_id}")
        self._tasks[claim.lease_id] = task
        task.add_done_callback(lambda _: self._done(claim))

    def _done(self, claim: Claim) -> None:
        self._hand.freed(claim.code_oc)
        self._metrics.in_flight.labels(claim.code_oc).dec()
        self._tasks.pop(claim.lease_id, None)
        self._start_waiting()
        if self._hand.wants_claim():
            self._wake.set()

    async def _attempt(self, claim: Claim) -> None:
        structlog.contextvars.bind_contextvars(
            message_id=str(claim.message_id), code_oc=claim.code_oc, attempt=claim.attempt
        )
        if not claim.started:
            began = await self._begin(claim)
            if began is None:
                return
            claim = began
        try:
            await self._run(claim)
        except Exception as exc:
            # The request falls due again when its lease would have ended: nothing is lost, and
            # after WORKER_MAX_INTERRUPTIONS of these in a row it is finished as failed.
            report_failure(self._metrics, exc, "attempt interrupted; retried when its lease ends")
            error = self._sanitizer.text(f"attempt interrupted: {exc!r}")
            with contextlib.suppress(*DB_ERRORS):
                await claims.note_interruption(self._pool, claim.lease_id, error or "")

    async def _begin(self, claim: Claim) -> Claim | None:
        """A claim that waited in the hand starts: the OC's conditions are asked again (an hour
        closed since the claim, an opened breaker send it back, unspent), then the statement
        that spends its attempt checks that its lease still holds."""
        try:
            block = self.holds(claim.code_oc, claim.now(), claim.lease_id)
            if block is not None:
                spread = self._spread[claim.code_oc]
                await claims.give_back(self._pool, claim.lease_id, block.until, spread)
                self._metrics.deferred.labels(claim.code_oc, block.reason).inc()
                return None
            attempt = await self._starts.submit(claim.lease_id)
        except DB_ERRORS as exc:  # its lease runs out: it falls due again, unspent
            report_failure(self._metrics, exc, "starting a waiting claim failed")
            return None
        if attempt is None:
            self._metrics.lease_lost.inc()
            log.warning("a waiting claim's lease was lost; it is left to whoever holds it now")
            return None
        structlog.contextvars.bind_contextvars(attempt=attempt)
        return dataclasses.replace(claim, attempt=attempt, started=True)

    async def _start_many(self, lease_ids: list[uuid.UUID]) -> list[int | None]:
        started = await claims.start_claims(self._pool, lease_ids, self._settings.lease_seconds)
        return [started.get(lease_id) for lease_id in lease_ids]

    async def _sleep(self, stop: asyncio.Event) -> None:
        """Until the next request falls due (within the batch window), new work, or stop."""
        poll = self._settings.poll_seconds
        timeout = poll
        if self._has_room():
            with contextlib.suppress(*DB_ERRORS):
                until_due = await claims.seconds_to_next_due(self._pool, list(self._hand.free))
                if until_due is not None:
                    timeout = min(poll, max(until_due, poll * _BATCH_WINDOW))
        await _wait_any(stop, self._wake, timeout)

    async def renew_leases(self, stop: asyncio.Event) -> None:
        """Keep the leases of running and waiting claims alive; stop acting on lost ones.

        Each renewal must be done before the leases it renews could end, less a margin: the
        last renewal that succeeded was sent at `renewed`, so every lease held then ends after
        `renewed + lease` (and later claims after that). One that fails or is not done by then
        is taken as lost for all the leases it carried: the attempts are cancelled while their
        leases still hold, so no other worker can claim a request while this one still runs it.
        """
        lease = self._settings.lease_seconds
        clock = asyncio.get_running_loop().time
        renewed: float | None = None  # when the last renewal that succeeded was sent
        while not await _wait(stop, lease / 3):
            # Waiting longer than a renewal apart: another worker may have room for them.
            stale = [claim.lease_id for claim in self._hand.stale(lease / 3)]
            if stale:
                await self._give_back(stale)
            held, waiting = dict(self._tasks), self._hand.leases()
            if not held and not waiting:
                renewed = None  # the next leases are claims newer than the next renewal
                continue
            sent = clock()
            # The first renewal of leases all claimed since the last pass: a quarter of a lease.
            budget = lease * claims.RENEWAL_SHARE
            if renewed is not None:
                budget = renewed + lease * (1 - _MARGIN) - sent
            try:
                renewal = claims.renew_leases(self._pool, [*held, *waiting], lease)
                kept = await asyncio.wait_for(renewal, budget)
                renewed = sent
            except Exception as exc:  # TimeoutError too
                report_failure(self._metrics, exc, "renewing leases failed; taken as lost")
                kept, renewed = None, None
            self._hand.drop(set(waiting) - (kept or set()))
            for lease_id in held.keys() - (kept or set()):
                self._metrics.lease_lost.inc()
                held[lease_id].cancel()
            if kept is None:  # they may still be ours: due at once rather than after a lease
                await self._give_back([*held, *waiting])

    async def _give_back(self, lease_ids: list[uuid.UUID]) -> None:
        """Due at once; bounded, as shutdown must end even with the database away."""
        with contextlib.suppress(*DB_ERRORS):  # else they run out: the same, later
            await asyncio.wait_for(claims.release_leases(self._pool, lease_ids), _RELEASE_SECONDS)

    async def drain(self, grace: float) -> None:
        """Let running attempts finish within `grace`; give the others back, due now.

        A claim still in flight is waited for first (it gives its requests back), so that no
        attempt starts after the list of running ones is taken.
        """
        self._closed = True
        end = asyncio.get_running_loop().time() + grace
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(end):
                await self._claiming.acquire()
                self._claiming.release()
        waiting = [claim.lease_id for claim in self._hand.take_all()]
        if waiting:  # unstarted: they go back at once, for another worker to start now
            await self._give_back(waiting)
        if self._tasks:
            log.info("waiting for running attempts", count=len(self._tasks), grace=grace)
            await asyncio.wait(list(self._tasks.values()), timeout=_left(end))
        unfinished = dict(self._tasks)
        for task in unfinished.values():
            task.cancel()
        await asyncio.gather(*unfinished.values(), return_exceptions=True)
        if unfinished:
            await self._give_back(list(unfinished))
            log.warning("attempts given back unfinished", count=len(unfinished))


def _left(end: float) -> float:
    return max(0.0, end - asyncio.get_running_loop().time())


async def _wait(stop: asyncio.Event, timeout: float) -> bool:
    """Sleep up to `timeout`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout)
    return stop.is_set()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
