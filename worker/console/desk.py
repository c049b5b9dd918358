"""The analyst's desk: the queue of requests whose suspect findings await a verdict, worst
first, and the verdicts themselves (confirmed or false alarm), posted from a request's page.

A verdict is an annotation, not an operation: it needs the form's CSRF token, not
WORKER_CONSOLE_ACTIONS. It is recorded with who gave it (the console's sign-in name).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from yarl import URL

from worker.console import params
from worker.console.actions import checked_form
from worker.console.guard import WHO
from worker.console.pages import render, state
from worker.observe.failures import DB_ERRORS
from worker.observe.metrics import VerdictMetrics
from worker.ops.verdicts import (
    QUEUE_DAYS,
    VERDICTS,
    Judgement,
    neighbours,
    record_verdict,
    review_queue,
    verdict_counts,
)

log = structlog.get_logger()
_OC = re.compile(r"^[A-Z0-9]{4}$")
_KIND = re.compile(r"^[a-z0-9_]{1,64}$")
_COMMENT_MAX = 2000


class VerdictGauges:
    """The verdict metrics, the stored ones read from the table at most once per `ttl` seconds
    whoever scrapes: the counter alone would forget a restart and split across replicas."""

    def __init__(self, registry: CollectorRegistry, ttl: float) -> None:
        self.metrics = VerdictMetrics(registry)
        self._ttl = ttl
        self._read_at = -ttl
        self._lock = asyncio.Lock()

    async def refresh(self, pool: asyncpg.Pool) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < self._ttl:
                return
            try:
                counts = await verdict_counts(pool)
            except DB_ERRORS as exc:  # the scrape still answers, with the last counts
                log.warning("could not count the verdicts for /metrics", error=repr(exc))
                return
            self.metrics.set_stored(counts)
            self._read_at = time.monotonic()


METRICS = web.AppKey("verdict_metrics", VerdictGauges)


def queue_oc(request: web.Request) -> str | None:
    oc = request.query.get("oc", "").strip().upper() or None
    if oc is not None and not _OC.fullmatch(oc):
        raise params.BadParameter(f"oc {oc[:40]!r}: four letters or digits")
    return oc


async def queue_page(request: web.Request) -> web.Response:
    oc = queue_oc(request)
    queue = await review_queue(state(request).pool, oc)
    return render(request, "queue.html", {"queue": queue, "oc": oc, "days": QUEUE_DAYS})


async def queue_position(request: web.Request, message_id: uuid.UUID) -> dict[str, Any] | None:
    """For a request opened from the queue: where it stands and what comes before and after."""
    if request.query.get("queue") != "1":
        return None
    oc = queue_oc(request)
    queue = await review_queue(state(request).pool, oc)
    before, after = neighbours(queue, message_id)
    return {"previous": before, "next": after, "left": len(queue), "oc": oc or ""}


async def post_verdict(request: web.Request) -> web.Response:
    console = state(request)
    form = await checked_form(request)
    judgement = _judgement(request, form)
    code = await record_verdict(console.pool, judgement)
    if code is None:
        raise web.HTTPNotFound(text="no such finding on this request (reviewed again since?)\n")
    request.app[METRICS].metrics.recorded.labels(judgement.kind, judgement.verdict).inc()
    log.info(
        "console verdict",
        who=judgement.who,
        message_id=str(judgement.message_id),
        kind=judgement.kind,
        verdict=judgement.verdict,
        code_oc=code,
    )
    back = URL(f"/requests/{judgement.message_id}")
    if _field(form, "queue") == "1":
        back = back.with_query(queue="1")
    raise web.HTTPSeeOther(location=str(back.with_fragment("findings")))


def _judgement(request: web.Request, form: Any) -> Judgement:
    message_id = params.uuid("messageId", request.match_info["message_id"])
    photo_ids = tuple(
        params.uuid("photo_ids", part) for part in _field(form, "photo_ids").split()[:64]
    )
    kind = _field(form, "kind")
    if not _KIND.fullmatch(kind):
        raise params.BadParameter(f"kind {kind[:40]!r}: a finding kind")
    verdict = next((v for v in VERDICTS if v == _field(form, "verdict")), None)
    if verdict is None:
        raise params.BadParameter(f"verdict: one of {', '.join(VERDICTS)}")
    comment = params.text("comment", _field(form, "comment"), _COMMENT_MAX)
    who = request.get(WHO) or "local"
    return Judgement(message_id, kind, photo_ids, verdict, who, comment)


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""
