"""One request's page: its message, attempts as a timeline, photos side by side, findings and
the event sent. The data is `worker show`'s (`ops.detail`)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from worker.console import params
from worker.console.cards import annotate_cards
from worker.console.desk import queue_position
from worker.console.gallery import badges, group_photos
from worker.console.pages import render, state
from worker.console.voice import voice
from worker.ops.detail import load_detail
from worker.ops.refetch import REFETCHABLE


async def request_page(request: web.Request) -> web.Response:
    try:
        message_id = params.uuid("messageId", request.match_info["message_id"])
    except params.BadParameter:
        raise web.HTTPNotFound(text=voice(request).gettext("not a messageId") + "\n") from None
    detail = await load_detail(state(request).pool, message_id)
    if detail["request"] is None:
        missing = voice(request).gettext("no request %(id)s") % {"id": message_id}
        raise web.HTTPNotFound(text=missing + "\n")
    req = detail["request"]
    groups = group_photos(detail["photos"], detail["findings"])
    context = {
        "r": req,
        "attempts": [_timed(a) for a in detail["attempts"]],
        "groups": groups,
        "reused_later": await annotate_cards(request, detail, groups),
        "photo_count": len(detail["photos"]),
        "refused": detail["refused"],
        "findings": detail["findings"],
        "review": detail["review"],
        "badges": badges(detail["findings"]),
        "events": [e | {"pretty": _pretty(e["body"])} for e in detail["events"]],
        "refetchable": req["status"] in REFETCHABLE and req["lease_owner"] is None,
        "queue": await queue_position(request, message_id),
    }
    return render(request, "request.html", context)


def _timed(attempt: dict[str, Any]) -> dict[str, Any]:
    outcome = attempt["outcome"]
    kinds = {"completed": "ok", "failed": "bad"}
    kind = "retry" if outcome.startswith("retry") else kinds.get(outcome, "end")
    seconds = (attempt["finished_at"] - attempt["started_at"]).total_seconds()
    return attempt | {"seconds": seconds, "kind": kind}


def _pretty(body: str) -> str:
    return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
