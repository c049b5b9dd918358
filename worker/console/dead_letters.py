"""The dead letters page: messages refused at intake, newest first, replayed or not."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from worker.console import params
from worker.console.pages import render, state
from worker.ops.replay import REASONS

PAGE = 50
STATES = ("waiting", "replayed")


async def dead_letters_page(request: web.Request) -> web.Response:
    query = request.query
    reason = params.choice("reason", query["reason"], REASONS) if query.get("reason") else None
    shown = params.choice("state", query["state"], STATES) if query.get("state") else None
    before = params.integer("before", query["before"]) if query.get("before") else None
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    if reason:
        args.append(reason)
        where.append(f"reason = ${len(args)}")
    if shown:
        where.append(f"replayed_at IS {'NULL' if shown == 'waiting' else 'NOT NULL'}")
    if before is not None:
        args.append(before)
        where.append(f"id < ${len(args)}")
    rows = await state(request).pool.fetch(
        "SELECT id, dead_lettered_at, message_id, reason, detail, body_excerpt, worker,"
        f" replayed_at, replayed_by FROM dead_letters WHERE {' AND '.join(where)}"
        f" ORDER BY id DESC LIMIT {PAGE + 1}",
        *args,
    )
    letters = [dict(row) for row in rows[:PAGE]]
    chosen: dict[str, Any] = {"reason": reason, "state": shown}
    more = {"before": letters[-1]["id"]} if len(rows) > PAGE else None
    context = {
        "letters": letters,
        "reasons": REASONS,
        "states": STATES,
        "chosen": chosen,
        "next_query": chosen | more if more else None,
        "first_query": chosen if before is not None else None,
    }
    return render(request, "dead_letters.html", context)
