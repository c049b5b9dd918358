"""`worker run`: wires intake, scheduler and outbox relay together, and shuts them down in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from worker import repository
from worker.attempt import AttemptContext
from worker.intake import Intake
from worker.metrics import Metrics
from worker.outbox import OutboxRelay
from worker.partners import Partner
from worker.resources import Resources, open_resources
from worker.scheduler import Scheduler
from worker.settings import Settings
from worker.topology import EXCHANGE, declare

log = structlog.get_logger()


class WorkerCrashed(Exception):
    """One of the worker's loops stopped on its own: the process should exit and be restarted."""


@dataclass(frozen=True)
class _Parts:
    intake: Intake
    scheduler: Scheduler
    relay: OutboxRelay


async def run_worker(
    settings: Settings,
    partners: Mapping[str, Partner],
    stop: asyncio.Event,
    metrics: Metrics | None = None,
) -> None:
    """Consume and work until `stop` is set, then stop consuming, drain, flush and close."""
    metrics = metrics or Metrics()
    async with open_resources(settings, partners, metrics) as resources:
        await _serve(settings, partners, resources, metrics, stop)
    log.info("worker stopped")


async def _serve(
    settings: Settings,
    partners: Mapping[str, Partner],
    resources: Resources,
    metrics: Metrics,
    stop: asyncio.Event,
) -> None:
    topology = await declare(resources.consumer_channel)
    await _warn_about_unknown_ocs(resources, partners)
    parts = await _assemble(settings, partners, resources, metrics)
    claiming, background = asyncio.Event(), asyncio.Event()
    loops = [
        asyncio.create_task(parts.scheduler.run(claiming), name="scheduler"),
        asyncio.create_task(parts.scheduler.renew_leases(background), name="leases"),
        asyncio.create_task(parts.relay.run(background), name="outbox"),
    ]
    consumer_tag = await topology.queue.consume(parts.intake.on_message)
    log.info(
        "worker started",
        instance=settings.instance,
        ocs=sorted(partners),
        concurrency=settings.concurrency,
        storage=resources.store.url,
    )
    crashed = await _until_stopped(stop, loops)
    log.info("stopping: no new deliveries, no new claims", grace=settings.shutdown_grace_seconds)
    with contextlib.suppress(Exception):
        await topology.queue.cancel(consumer_tag)
    claiming.set()
    deadline = asyncio.get_running_loop().time() + settings.shutdown_grace_seconds
    await parts.intake.drain(_left(deadline))
    await parts.scheduler.drain(_left(deadline))
    await parts.relay.flush()
    background.set()
    await asyncio.gather(*loops, return_exceptions=True)
    if crashed is not None:
        raise WorkerCrashed(f"the {crashed} loop stopped unexpectedly")


async def _assemble(
    settings: Settings, partners: Mapping[str, Partner], resources: Resources, metrics: Metrics
) -> _Parts:
    exchange = await resources.publisher_channel.get_exchange(EXCHANGE)
    relay = OutboxRelay(resources.pool, exchange, metrics, settings.poll_seconds)
    ctx = AttemptContext(resources.pool, resources.store, settings, metrics, relay.wake)
    scheduler = Scheduler(ctx, resources.clients)
    intake = Intake(
        resources.pool,
        resources.publisher_channel,
        frozenset(partners),
        metrics,
        scheduler.wake,
        settings.instance,
    )
    return _Parts(intake, scheduler, relay)


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
    orphans = await repository.pending_of_other_ocs(resources.pool, list(partners))
    for code, count in orphans.items():
        log.warning(
            "pending requests of an OC missing from the partners file will wait",
            code_oc=code,
            pending=count,
        )


def _left(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())
