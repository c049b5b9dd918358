"""The sweep of staging files: what writes cut by a kill (SIGKILL, OOM, power loss) left in
the photo tree, removed by the worker at start and then every few minutes."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from worker.observe.failures import report_failure
from worker.observe.metrics import Metrics
from worker.photos.storage import PhotoStore

log = structlog.get_logger()


async def sweep_staging(
    store: PhotoStore, older_than: float, every: float, stop: asyncio.Event, metrics: Metrics
) -> None:
    """Clear staging files idle for `older_than` seconds now, then every `every` until `stop`."""
    while not stop.is_set():
        try:
            removed = await store.clear_staging(older_than)
        except OSError as exc:
            report_failure(metrics, exc, "clearing staging files failed")
        else:
            if removed:
                log.info("staging files left by an interrupted write removed", files=removed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
