"""The analyst's desk: the queue of requests whose suspect findings await a verdict, worst
first, and the verdicts themselves (confirmed or false alarm), posted from a request's page.

A verdict is an annotation, not an operation: it needs the form's CSRF token, not
WORKER_CONSOLE_ACTIONS. It is recorded with who gave it (the console's sign-in name).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from aiohttp import web
from yarl import URL

from worker.console.guard import WHO
from worker.console.pages import render, state
from worker.ops.verdicts import (
    QUEUE_DAYS,
    VERDICTS,
    Judgement,
    neighbours,
    record_verdict,
    review_queue,
)

log = structlog.get_logger()
_OC = re.compile(r"^[A-Z0-9]{4}$")
_KIND = re.compile(r"^[a-z0-9_]{1,64}$")
_COMMENT_MAX = 2000


def queue_oc(request: web.Request) -> str | None:
    oc = request.query.get("oc", "").strip().upper() or None
    if oc is not None and not _OC.match(oc):
        raise web.HTTPBadRequest(text="oc: 4 letters or digits\n")
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
    form = await request.post()
    token = form.get("csrf")
    console.csrf.check(request, token if isinstance(token, str) else None)
    judgement = _judgement(request, form)
    code = await record_verdict(console.pool, judgement)
    if code is None:
        raise web.HTTPNotFound(text="no such finding on this request (reviewed again since?)\n")
    log.info(
        "console verdict",
        who=judgement.who,
        message_id=str(judgement.message_id),
        kind=judgement.kind,
        verdict=judgement.verdict,
        code_oc=code,
    )
    back = URL(f"/requests/{judgement.message_id}")
    if form.get("queue") == "1":
        back = back.with_query(queue="1")
    raise web.HTTPSeeOther(location=str(back.with_fragment("findings")))


def _judgement(request: web.Request, form: Any) -> Judgement:
    try:
        message_id = uuid.UUID(request.match_info["message_id"])
        photo_ids = tuple(uuid.UUID(part) for part in _field(form, "photo_ids").split() if part)
    except ValueError:
        raise web.HTTPBadRequest(text="messageId and photo ids must be UUIDs\n") from None
    kind, comment = _field(form, "kind"), _field(form, "comment").strip()
    verdict = next((v for v in VERDICTS if v == _field(form, "verdict")), None)
    if not _KIND.match(kind) or verdict is None or len(comment) > _COMMENT_MAX:
        raise web.HTTPBadRequest(
            text=f"kind: a finding kind; verdict: one of {VERDICTS}; comment: at most"
            f" {_COMMENT_MAX} characters\n"
        )
    who = request.get(WHO) or "local"
    return Judgement(message_id, kind, photo_ids, verdict, who, comment)


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""
