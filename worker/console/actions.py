"""The console's two actions, when it is started with them (WORKER_CONSOLE_ACTIONS): refetch a
request, replay a dead letter. POST only, with the form's CSRF token; each is logged with who
did it, and does what the operator commands do, with their code (`ops.refetch`, `ops.replay`)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import structlog
from aiohttp import web
from yarl import URL

from worker.console.guard import WHO
from worker.console.pages import ConsoleState, state
from worker.ops.refetch import RefetchSelection, refetch
from worker.ops.replay import DeadLetterFilter, mark_replayed, replay_dead_letters

log = structlog.get_logger()


async def _allowed(request: web.Request) -> ConsoleState:
    console = state(request)
    if not console.settings.console_actions:
        raise web.HTTPForbidden(text="actions are off: start with WORKER_CONSOLE_ACTIONS=true\n")
    form = await request.post()
    token = form.get("csrf")
    console.csrf.check(request, token if isinstance(token, str) else None)
    return console


def _back(path: str, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=str(URL(path).with_query(notice=notice)))


async def refetch_request(request: web.Request) -> web.Response:
    console = await _allowed(request)
    try:
        message_id = uuid.UUID(request.match_info["message_id"])
    except ValueError:
        raise web.HTTPNotFound(text="not a messageId\n") from None
    async with console.pool.acquire() as conn:
        chosen = await refetch(conn, RefetchSelection(keys=(str(message_id),)), dry_run=False)
    moved = [item for item in chosen if not item.in_flight]
    result = "due now" if moved else "in flight: left alone" if chosen else "not refetchable"
    log.info(
        "console action",
        action="refetch",
        who=request[WHO],
        message_id=str(message_id),
        result=result,
        was=moved[0].was if moved else None,
    )
    raise _back(f"/requests/{message_id}", f"Refetch: {result}.")


async def replay_dead_letter(request: web.Request) -> web.Response:
    console = await _allowed(request)
    record_id = int(request.match_info["record_id"])
    row = await console.pool.fetchrow(
        "SELECT message_id, reason, replayed_at FROM dead_letters WHERE id = $1", record_id
    )
    if row is None:
        raise web.HTTPNotFound(text=f"no dead letter #{record_id}\n")
    if row["replayed_at"] is not None:
        raise _back("/dead-letters", f"Dead letter #{record_id} was already replayed.")
    letters = await replay_dead_letters(
        console.settings, DeadLetterFilter(record_id=record_id, limit=1), dry_run=False
    )
    if not any(letter.replayed for letter in letters) and row["message_id"]:
        # Dead-lettered before its copies carried their row's id.
        wanted = DeadLetterFilter(row["reason"], row["message_id"], limit=1)
        letters = await replay_dead_letters(console.settings, wanted, dry_run=False)
    # The row shown is the one marked, whichever way its message was found.
    replayed = [replace(letter, record_id=record_id) for letter in letters if letter.replayed]
    await mark_replayed(console.pool, replayed, request[WHO])
    result = "sent back to photos.cr_stoc" if replayed else "not in the dead-letter queue"
    log.info(
        "console action",
        action="replay",
        who=request[WHO],
        dead_letter=record_id,
        message_id=row["message_id"],
        result=result,
    )
    raise _back("/dead-letters", f"Dead letter #{record_id}: {result}.")
