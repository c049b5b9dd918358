"""The on-call view: is the fleet alive, are the queues draining, what is late and who holds it.

Workers are their heartbeats (`worker_heartbeats`, see `worker.observe.heartbeat`); the queues
are what the freshest live worker saw of them, so the console needs no broker credentials. The
health banner sums it up: red with no live worker or a queue growing with no consumer, amber
with overdue requests or a growing queue.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from worker.console.pages import ConsoleState, render, state
from worker.console.voice import N_, Text
from worker.events.topology import QUEUE

# A request due this long ago and still not taken is late: claims run every few seconds.
OVERDUE_AFTER_SECONDS = 120
_LIVE_BEATS = 3  # heartbeats missed before a worker counts as gone
_GROWTH_SPAN = 60.0  # seconds of queue samples that make a trend


@dataclass(frozen=True)
class Health:
    level: str  # "ok", "warn", "bad"
    reasons: tuple[Text, ...]


@dataclass(frozen=True)
class OnCall:
    generated_at: datetime
    workers: list[dict[str, Any]]
    live: int
    queues: dict[str, dict[str, int]]
    queues_seen_at: datetime | None
    growing: bool
    overdue: list[dict[str, Any]]
    overdue_total: int
    health: Health


_WORKERS = """
SELECT instance, roles, version, host, pid, started_at, seen_at, stopped_at, in_flight, queues,
    stopped_at IS NULL AND seen_at > now() - make_interval(secs => $1) AS live
FROM worker_heartbeats
WHERE seen_at > now() - interval '1 day'
ORDER BY live DESC, seen_at DESC
LIMIT 100
"""

# The due index orders pending requests by next_attempt_at: the late ones are its first rows.
_OVERDUE = """
SELECT message_id, code_oc, status, attempts, next_attempt_at, lease_owner, received_at,
    coalesce(reference_commande_sous_traitant_oi, reference_commande_prise_interne_oc,
             reference_prestation_prise) AS reference,
    extract(epoch FROM now() - next_attempt_at)::float8 AS late_seconds
FROM photo_requests
WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1)
ORDER BY next_attempt_at
LIMIT $2
"""

_OVERDUE_COUNT = """
SELECT count(*) FROM (
    SELECT 1 FROM photo_requests
    WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1)
    LIMIT 1000
) AS late
"""


@dataclass
class QueueTrend:
    """The work queue's depth over the last minute, from the console's own samples."""

    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))

    def add(self, depth: int, now: float | None = None) -> None:
        self.samples.append((time.monotonic() if now is None else now, depth))

    def growing(self) -> bool:
        """Never lower from one sample to the next for a minute, and higher at the end."""
        if not self.samples:
            return False
        last = self.samples[-1][0]
        window = [(at, depth) for at, depth in self.samples if last - at <= _GROWTH_SPAN * 1.5]
        depths = [depth for _, depth in window]
        steady = all(a <= b for a, b in itertools.pairwise(depths))
        return last - window[0][0] >= _GROWTH_SPAN and steady and depths[-1] > depths[0]


async def build_oncall(pool: asyncpg.Pool, heartbeat_seconds: float, trend: QueueTrend) -> OnCall:
    async with asyncio.TaskGroup() as group:
        workers = group.create_task(pool.fetch(_WORKERS, heartbeat_seconds * _LIVE_BEATS))
        overdue = group.create_task(pool.fetch(_OVERDUE, OVERDUE_AFTER_SECONDS, 50))
        late = group.create_task(pool.fetchval(_OVERDUE_COUNT, OVERDUE_AFTER_SECONDS))
    rows = [dict(row) for row in workers.result()]
    live = [row for row in rows if row["live"]]
    queues, seen_at = _freshest_queues(live)
    if QUEUE in queues:
        trend.add(queues[QUEUE]["messages"])
    growing = trend.growing()
    overdue_total = int(late.result())
    return OnCall(
        generated_at=datetime.now(UTC),
        workers=rows,
        live=len(live),
        queues=queues,
        queues_seen_at=seen_at,
        growing=growing,
        overdue=[dict(row) for row in overdue.result()],
        overdue_total=overdue_total,
        health=judge(len(live), queues, growing, overdue_total),
    )


def _freshest_queues(live: list[dict[str, Any]]) -> tuple[dict[str, dict[str, int]], Any]:
    for row in live:  # newest first
        if row["queues"]:
            queues = row["queues"]
            return (queues if isinstance(queues, dict) else _json(queues)), row["seen_at"]
    return {}, None


def _json(text: str) -> dict[str, dict[str, int]]:
    loaded: dict[str, dict[str, int]] = json.loads(text)
    return loaded


def judge(live: int, queues: dict[str, dict[str, int]], growing: bool, overdue: int) -> Health:
    bad, warn = [], []
    if live == 0:
        bad.append(N_("no live worker: none has sent a heartbeat lately"))
    work = queues.get(QUEUE)
    if work is not None and work["consumers"] == 0 and work["messages"] > 0:
        waiting = work["messages"]
        bad.append(
            N_("%(n)s messages wait in %(queue)s and nothing consumes it", n=waiting, queue=QUEUE)
        )
    elif growing:
        warn.append(N_("%(queue)s has been growing for a minute", queue=QUEUE))
    if overdue:
        count = f"{overdue}{'+' if overdue >= 1000 else ''}"
        warn.append(N_("%(n)s pending requests are overdue", n=count))
    if bad:
        return Health("bad", tuple(bad + warn))
    return Health(
        "warn" if warn else "ok", tuple(warn) or (N_("all workers beating, queues draining"),)
    )


class OnCallCache:
    """Made at most once per `ttl` seconds, whoever asks (as the overview)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._made_at = 0.0
        self._view: OnCall | None = None
        self._lock = asyncio.Lock()
        self.trend = QueueTrend()

    async def get(self, console: ConsoleState) -> OnCall:
        async with self._lock:
            if self._view is None or time.monotonic() - self._made_at >= self._ttl:
                seconds = console.settings.heartbeat_seconds
                self._view = await build_oncall(console.pool, seconds, self.trend)
                self._made_at = time.monotonic()
            return self._view


CACHE = web.AppKey("oncall", OnCallCache)


async def oncall_page(request: web.Request) -> web.Response:
    view = await request.app[CACHE].get(state(request))
    return render(request, "oncall.html", {"v": view})


async def oncall_panel(request: web.Request) -> web.Response:
    view = await request.app[CACHE].get(state(request))
    return render(request, "_oncall.html", {"v": view})
