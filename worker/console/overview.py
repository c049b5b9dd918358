"""The overview: what waits, what finished lately, what went wrong; refreshed in place.

The counts, the oldest pending request, the unsent events and the dead letters are the same
queries as `worker status`; the rates of the last hour and day are the console's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from worker.console.pages import render, state
from worker.ops.status import (
    STATUSES,
    count_requests,
    oldest_pending,
    recent_dead_letters,
    unsent_events,
)

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


async def build_overview(pool: asyncpg.Pool) -> Overview:
    requests = await count_requests(pool)
    totals = {s: sum(counts[s] for counts in requests.values()) for s in STATUSES}
    return Overview(
        generated_at=datetime.now(UTC),
        requests=requests,
        totals=totals,
        oldest_pending=await oldest_pending(pool),
        finished={name: await _finished(pool, span) for name, span in WINDOWS.items()},
        photos_stored={name: await _photos_stored(pool, span) for name, span in WINDOWS.items()},
        dead_letters=dict(await pool.fetchrow(_DEAD_LETTER_COUNTS) or {}),
        latest_dead_letters=await recent_dead_letters(pool, 5),
        unsent_events=await unsent_events(pool),
    )


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
SELECT count(*) AS total, count(*) FILTER (WHERE replayed_at IS NULL) AS waiting
FROM dead_letters
"""


async def overview_page(request: web.Request) -> web.Response:
    return render(request, "overview.html", {"o": await build_overview(state(request).pool)})


async def overview_panel(request: web.Request) -> web.Response:
    """The refreshing part of the page alone, swapped in place by htmx."""
    return render(request, "_overview.html", {"o": await build_overview(state(request).pool)})
