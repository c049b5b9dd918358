"""`worker run`: wires intake, scheduler, outbox relay and the review stage together, and shuts
them down in order. WORKER_ROLES says which of ingestion (intake and scheduler) and review this
process plays; the outbox relay runs in both."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

import structlog

from worker.attempt.context import AttemptContext
from worker.attempt.outcomes import Outcomes, Rescheduling
from worker.attempt.runner import run_attempt
from worker.border import Redactor, Sanitizer
from worker.database.batching import Batcher
from worker.events.outbox import OutboxRelay
from worker.events.topology import DEAD_QUEUE, EXCHANGE, QUEUE, QueuePolicy, declare
from worker.intake.consumer import Intake
from worker.intake.dead_letter import DeadLetterCopier
from worker.limits.gate import PartnerGate
from worker.limits.gatekeeper import Gatekeeper, is_limited
from worker.observe.failures import is_data_error
from worker.observe.health import BrokerView, Monitor
from worker.observe.heartbeat import Heartbeat
from worker.observe.metrics import Metrics
from worker.partners.config import Partner, secrets_of
from worker.photos import catalog
from worker.photos.catalog import Lookup, PhotoSummary
from worker.photos.staging import sweep_staging
from worker.resources import Resources, open_resources
from worker.review.processes import Check
from worker.review.stage import ReviewStage
from worker.schedule import claims
from worker.schedule.claims import Claim
from worker.schedule.scheduler import Scheduler
from worker.settings import Settings

log = structlog.get_logger()
_BATCH = 200
# Polls claimed together end within a few milliseconds of each other: this lets one statement
# write them all back.
_RESCHEDULE_LINGER = 0.02
_STEP_SECONDS = 2.0  # at most, for each shutdown step that talks to a service
_SWEEP_SECONDS = 600.0  # between two sweeps of staging files
# The review waits until no photo has downloaded for this long (see `Reviewer.yield_to`).
_QUIET_SECONDS = 1.0


class WorkerCrashed(Exception):
    """One of the worker's loops stopped on its own: the process should exit and be restarted."""


async def run_worker(
    settings: Settings,
    partners: Mapping[str, Partner],
    stop: asyncio.Event,
    metrics: Metrics | None = None,
    on_started: Callable[[int], None] | None = None,
    review_check: Check | None = None,
) -> None:
    """Consume and work until `stop` is set, then stop consuming, drain, flush and close.

    `on_started` gets the port of /metrics, /healthz and /readyz once the worker consumes;
    `review_check` replaces the check run in the review processes (tests).
    """
    metrics = metrics or Metrics()
    async with open_resources(settings, partners, metrics) as resources:
        broker = BrokerView(
            resources.connection,
            resources.consumer_channel,
            resources.publisher_channel,
            (QUEUE, DEAD_QUEUE),
        )
        storage = partial(resources.store.problem, settings.instance)
        # A store that fails shows on /readyz within a few polls (10 s by default).
        every = settings.poll_seconds * 5
        monitor = Monitor(metrics, resources.pool, broker, frozenset(partners), storage, every)
        monitor.consumes = settings.plays("ingest")
        port = await monitor.start(settings.metrics_host, settings.metrics_port)
        try:
            parts = await _Parts.assemble(settings, partners, resources, metrics, review_check)
            try:
                await parts.serve(stop, monitor, lambda: on_started(port) if on_started else None)
            finally:
                if parts.review is not None:  # its processes, whatever stopped serve()
                    await parts.review.stop()
        finally:
            await monitor.close()
    log.info("worker stopped")


async def _limit(resources: Resources, metrics: Metrics) -> Gatekeeper:
    """Put each OC's conditions of use before its calls and its claims."""
    gates = {}
    for code, client in resources.clients.items():
        if is_limited(client.partner.config):  # the others keep the client's open gate
            gates[code] = client.gate = PartnerGate(
                code, client.partner.config, resources.pool, metrics
            )
    gatekeeper = Gatekeeper(resources.pool, gates, metrics)
    await gatekeeper.open()
    return gatekeeper


class _Parts:
    """The three activities of a worker and the order in which they start and stop."""

    def __init__(
        self,
        settings: Settings,
        resources: Resources,
        intake: Intake,
        scheduler: Scheduler,
        relay: OutboxRelay,
        metrics: Metrics,
        review: ReviewStage | None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._resources = resources
        self.intake = intake
        self.scheduler = scheduler
        self.relay = relay
        self.review = review

    @classmethod
    async def assemble(
        cls,
        settings: Settings,
        partners: Mapping[str, Partner],
        resources: Resources,
        metrics: Metrics,
        review_check: Check | None = None,
    ) -> _Parts:
        await _warn_about_unknown_ocs(resources, partners)
        exchange = await resources.publisher_channel.get_exchange(EXCHANGE, ensure=False)
        relay = OutboxRelay(resources.pool, exchange, metrics, settings.poll_seconds)
        sanitizer = Sanitizer(Redactor(secrets_of(settings, partners)))
        review = None
        if settings.plays("review") and settings.qa_enabled:
            review = ReviewStage(
                resources.pool,
                resources.store,
                settings,
                metrics,
                sanitizer,
                relay.wake,
                review_check,
            )

        def finished(queued: bool) -> None:
            relay.wake()
            if queued and review is not None:
                review.reviewer.wake()

        outcomes = Outcomes(resources.pool, sanitizer, settings.instance, settings.qa_enabled)
        reschedules: Batcher[Rescheduling, bool] = Batcher(
            outcomes.reschedule_many,
            max_batch=_BATCH,
            linger=_RESCHEDULE_LINGER,
            isolate=is_data_error,
        )
        pool = resources.pool
        # Looked up when called, not bound now: a test may put its own in between.
        lookups: Batcher[Lookup, dict[uuid.UUID, PhotoSummary]] = Batcher(
            lambda items: catalog.known_photos(pool, items), max_batch=_BATCH
        )
        ctx = AttemptContext(
            resources.pool,
            resources.store,
            settings,
            metrics,
            outcomes,
            finished,
            reschedules,
            lookups,
            checks=settings.qa_enabled,
        )
        clients = resources.clients
        gatekeeper = await _limit(resources, metrics)

        async def attempt(claim: Claim) -> str:
            return await run_attempt(ctx, clients[claim.code_oc], claim)

        scheduler = Scheduler(
            resources.pool,
            settings,
            metrics,
            partners,
            attempt,
            sanitizer,
            ctx.rng,
        )
        if review is not None:
            review.reviewer.yield_to = lambda: ctx.downloads.busy(_QUIET_SECONDS)
        scheduler.admit = gatekeeper.admit
        scheduler.holds = gatekeeper.holds
        scheduler.claimed = gatekeeper.claimed
        dead_letters = DeadLetterCopier(
            resources.pool,
            resources.publisher_channel,
            QueuePolicy.of(settings),
            metrics,
            settings.instance,
        )
        intake = Intake(resources.pool, dead_letters, frozenset(partners), metrics, scheduler.wake)
        scheduler.hold = intake.backlogged
        return cls(settings, resources, intake, scheduler, relay, metrics, review)

    async def serve(
        self, stop: asyncio.Event, monitor: Monitor, started: Callable[[], None]
    ) -> None:
        topology = await declare(self._resources.consumer_channel, QueuePolicy.of(self._settings))
        claiming, background = asyncio.Event(), asyncio.Event()
        ingest = self._settings.plays("ingest")
        heartbeat = Heartbeat(
            self._resources.pool,
            self._settings.instance,
            self._settings.roles,
            self._settings.heartbeat_seconds,
            lambda: self.scheduler.running,
            monitor.queue_view,
        )
        loops = [
            asyncio.create_task(self.relay.run(background), name="outbox"),
            asyncio.create_task(heartbeat.run(background), name="heartbeat"),
        ]
        if ingest:
            loops += [
                asyncio.create_task(self.scheduler.run(claiming), name="scheduler"),
                asyncio.create_task(self.scheduler.renew_leases(background), name="leases"),
                asyncio.create_task(self._sweep(background), name="staging"),
            ]
        if self.review is not None:
            loops += self.review.loops(claiming)
        if ingest:
            monitor.consumer_tag = await topology.queue.consume(self.intake.on_message)
        # What start-up made (modules, settings, pools) lives as long as the process: kept out
        # of the collector's passes, each of which would otherwise walk it all again; and the
        # youngest generation collected every 10,000 allocations rather than 700 (a burst of
        # 3,600 photos: 55 ms of collections instead of 116, start-up included).
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        started()
        log.info(
            "worker started",
            instance=self._settings.instance,
            roles=self._settings.roles,
            ocs=sorted(self._resources.clients),
            concurrency=self._settings.concurrency,
            review_processes=self._settings.review_processes if self.review else 0,
            storage=self._resources.store.url,
        )
        crashed = await _until_stopped(stop, loops)
        # Each step is bounded: with the broker or the database away, shutdown must still end.
        if monitor.consumer_tag is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(topology.queue.cancel(monitor.consumer_tag), _STEP_SECONDS)
        claiming.set()
        if self.review is not None:
            # Reviews are cut at once, not drained: a restart or a replica takes them up.
            await self.review.stop()
        await self._drain()
        background.set()
        await asyncio.gather(*loops, return_exceptions=True)
        if crashed is not None:
            raise WorkerCrashed(f"the {crashed} loop stopped unexpectedly")

    def _sweep(self, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
        """A staging file idle for a lease belongs to no live write: its writer was killed."""
        lease = self._settings.lease_seconds
        return sweep_staging(self._resources.store, lease, _SWEEP_SECONDS, stop, self._metrics)

    async def _drain(self) -> None:
        """In-flight deliveries and attempts get the grace period; then events are flushed."""
        grace = self._settings.shutdown_grace_seconds
        log.info("stopping: no new deliveries, no new claims", grace=grace)
        deadline = asyncio.get_running_loop().time() + grace
        await self.intake.drain(_left(deadline))
        await self.scheduler.drain(_left(deadline))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.relay.flush(), _STEP_SECONDS)


async def _until_stopped(stop: asyncio.Event, loops: list[asyncio.Task[None]]) -> str | None:
    """Wait for `stop`; if a loop ends first (a bug), say which, so that the process exits."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    dead = next((task for task in loops if task in done), None)
    if dead is None:
        return None
    error = None if dead.cancelled() else dead.exception()
    log.critical(
        "a loop of the worker stopped; shutting down",
        loop=dead.get_name(),
        error=repr(error),
        exc_info=error,
    )
    return dead.get_name()


async def _warn_about_unknown_ocs(resources: Resources, partners: Mapping[str, Partner]) -> None:
    orphans = await claims.pending_of_other_ocs(resources.pool, list(partners))
    for code, count in orphans.items():
        log.warning(
            "pending requests of an OC missing from the partners file will wait",
            code_oc=code,
            pending=count,
        )


def _left(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())
