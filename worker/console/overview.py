"""The overview: what waits, what finished lately, what went wrong; refreshed in place.

The counts, the oldest pending request, the unsent events and the dead letters are the same
queries as `worker status`; the rates of the last hour and day are the console's own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from worker.console import oncall
from worker.console.pages import ConsoleState, render, state
from worker.ops.limits import breakers_seen, limits_or_reason
from worker.ops.status import (
    STATUSES,
    count_requests,
    oldest_pending,
    recent_dead_letters,
    review_backlog,
    unsent_events,
)
from worker.settings import Settings

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Overview:
    generated_at: datetime
    requests: dict[str, dict[str, int]]
    totals: dict[str, int]
    oldest_pending: dict[str, Any] | None
    finished: dict[str, dict[str, int]]  # window -> status -> count
    photos_stored: dict[str, int]  # window -> count
    dead_letters: dict[str, int]
    latest_dead_letters: list[dict[str, Any]]
    unsent_events: int
    review: dict[str, Any]  # the review backlog and lag (`worker status`)
    # All of them where the console can read the partners file (Compose mounts it); the open
    # breakers alone where it cannot (Kubernetes keeps the file, with its tokens, away from it).
    partner_limits: list[dict[str, Any]]


async def build_overview(pool: asyncpg.Pool, settings: Settings) -> Overview:
    # Side by side on the pool's connections: the page waits for the slowest, not the sum.
    async with asyncio.TaskGroup() as group:
        requests = group.create_task(count_requests(pool))
        oldest = group.create_task(oldest_pending(pool))
        finished = {
            name: group.create_task(_finished(pool, span)) for name, span in WINDOWS.items()
        }
        photos = {
            name: group.create_task(_photos_stored(pool, span)) for name, span in WINDOWS.items()
        }
        dead = group.create_task(_dead_letter_counts(pool))
        latest = group.create_task(recent_dead_letters(pool, 5))
        unsent = group.create_task(unsent_events(pool))
        review = group.create_task(review_backlog(pool))
        limits = group.create_task(limits_or_reason(pool, settings))
    counts = requests.result()
    return Overview(
        generated_at=datetime.now(UTC),
        requests=counts,
        totals={s: sum(by_status[s] for by_status in counts.values()) for s in STATUSES},
        oldest_pending=oldest.result(),
        finished={name: task.result() for name, task in finished.items()},
        photos_stored={name: task.result() for name, task in photos.items()},
        dead_letters=dead.result(),
        latest_dead_letters=latest.result(),
        unsent_events=unsent.result(),
        review=review.result(),
        partner_limits=await _listed(pool, limits.result()),
    )


async def _listed(pool: asyncpg.Pool, limits: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    return limits if isinstance(limits, list) else await breakers_seen(pool)


async def _dead_letter_counts(pool: asyncpg.Pool) -> dict[str, int]:
    row = await pool.fetchrow(_DEAD_LETTER_COUNTS)
    return {"total": row["total"], "waiting": row["waiting"]} if row else {}


class OverviewCache:
    """The overview, made at most once per `ttl` seconds whoever asks: however many pages
    refresh it, PostgreSQL counts once per period."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._made_at = 0.0
        self._overview: Overview | None = None
        self._lock = asyncio.Lock()

    async def get(self, console: ConsoleState) -> Overview:
        async with self._lock:
            if self._overview is None or time.monotonic() - self._made_at >= self._ttl:
                self._overview = await build_overview(console.pool, console.settings)
                self._made_at = time.monotonic()
            return self._overview


CACHE = web.AppKey("overview", OverviewCache)


async def _finished(pool: asyncpg.Pool, span: timedelta) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM photo_requests"
        " WHERE completed_at > now() - $1::interval GROUP BY status",
        span,
    )
    found = {row["status"]: int(row["n"]) for row in rows}
    return {status: found.get(status, 0) for status in STATUSES[1:]}


async def _photos_stored(pool: asyncpg.Pool, span: timedelta) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM photos WHERE stored_at > now() - $1::interval", span
        )
    )


_DEAD_LETTER_COUNTS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE replayed_at IS NULL AND dismissed_at IS NULL) AS waiting
FROM dead_letters
"""


async def overview_page(request: web.Request) -> web.Response:
    return render(request, "overview.html", await _context(request))


async def overview_panel(request: web.Request) -> web.Response:
    """The refreshing part of the page alone, swapped in place by htmx."""
    return render(request, "_overview.html", await _context(request))


async def _context(request: web.Request) -> dict[str, Any]:
    console = state(request)
    overview = await request.app[CACHE].get(console)
    health = (await request.app[oncall.CACHE].get(console)).health
    return {"o": overview, "health": health}
