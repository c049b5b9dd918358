"""The console's two actions, when it is started with them (WORKER_CONSOLE_ACTIONS): refetch a
request, replay a dead letter. POST only, with the form's CSRF token; each is logged with who
did it, and does what the operator commands do, with their code (`ops.refetch`, `ops.replay`)."""

from __future__ import annotations

from dataclasses import replace

import structlog
from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from yarl import URL

from worker.console import params
from worker.console.guard import WHO
from worker.console.pages import ConsoleState, state
from worker.ops.refetch import RefetchSelection, refetch
from worker.ops.replay import DeadLetterFilter, mark_replayed, replay_dead_letters

log = structlog.get_logger()


async def _allowed(request: web.Request) -> ConsoleState:
    console = state(request)
    if not console.settings.console_actions:
        raise web.HTTPForbidden(text="actions are off: start with WORKER_CONSOLE_ACTIONS=true\n")
    await checked_form(request)
    return console


async def checked_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The posted form, once its token and origin are checked (refused: 403, logged, counted)."""
    console = state(request)
    try:
        form = await request.post()
    except ValueError:  # a body that is not a form in its charset
        raise web.HTTPBadRequest(text="not a form\n") from None
    token = form.get("csrf")
    reason = console.csrf.refusal(request, request[WHO], token if isinstance(token, str) else None)
    if reason == "origin":
        raise console.refusals.refuse(
            request, reason, web.HTTPForbidden(text="cross-origin form refused\n"), request[WHO]
        )
    if reason:
        answer = web.HTTPForbidden(text="missing or stale form token: reload the page\n")
        raise console.refusals.refuse(request, reason, answer, request[WHO])
    return form


def _back(path: str, notice: str) -> web.HTTPSeeOther:
    """Back to the page, with one of the `pages.NOTICES` by its key."""
    return web.HTTPSeeOther(location=str(URL(path).with_query(notice=notice)))


async def refetch_request(request: web.Request) -> web.Response:
    console = await _allowed(request)
    message_id = params.uuid("messageId", request.match_info["message_id"])
    async with console.pool.acquire() as conn:
        chosen = await refetch(conn, RefetchSelection(keys=(str(message_id),)), dry_run=False)
    moved = [item for item in chosen if not item.in_flight]
    result = "due" if moved else "in-flight" if chosen else "refused"
    log.info(
        "console action",
        action="refetch",
        who=request[WHO],
        message_id=str(message_id),
        result=result,
        was=moved[0].was if moved else None,
    )
    raise _back(f"/requests/{message_id}", f"refetch-{result}")


async def replay_dead_letter(request: web.Request) -> web.Response:
    console = await _allowed(request)
    record_id = params.integer("dead letter", request.match_info["record_id"])
    row = await console.pool.fetchrow(
        "SELECT message_id, reason, replayed_at FROM dead_letters WHERE id = $1", record_id
    )
    if row is None:
        raise web.HTTPNotFound(text=f"no dead letter #{record_id}\n")
    if row["replayed_at"] is not None:
        raise _back("/dead-letters", "replay-done")
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
    result = "replayed" if replayed else "replay-missing"
    log.info(
        "console action",
        action="replay",
        who=request[WHO],
        dead_letter=record_id,
        message_id=row["message_id"],
        result=result,
    )
    raise _back("/dead-letters", result)
