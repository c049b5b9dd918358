"""The console's actions, when it is started with them (WORKER_CONSOLE_ACTIONS): refetch a
request; replay a dead letter, or all those of a reason after a confirmation page; dismiss one.
POST only, with the form's CSRF token; each is logged with who did it, and does what the operator
commands do, with their code (`ops.refetch`, `ops.replay`)."""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from yarl import URL

from worker.console import params
from worker.console.dead_letters import BULK, bulk_candidates, bulk_selection
from worker.console.guard import WHO
from worker.console.pages import ConsoleState, state
from worker.console.replay_advice import advise
from worker.console.voice import voice
from worker.ops.refetch import RefetchSelection, refetch
from worker.ops.replay import REASONS, Chosen, replay_rows

log = structlog.get_logger()


Form = MultiDictProxy[str | bytes | bytearray | FileField]


async def _allowed(request: web.Request) -> ConsoleState:
    return (await _allowed_form(request))[0]


async def _allowed_form(request: web.Request) -> tuple[ConsoleState, Form]:
    console = state(request)
    if not console.settings.console_actions:
        off = voice(request).gettext("actions are off: start with WORKER_CONSOLE_ACTIONS=true")
        raise web.HTTPForbidden(text=off + "\n")
    return console, await checked_form(request)


async def checked_form(request: web.Request) -> Form:
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
            request,
            reason,
            web.HTTPForbidden(text=voice(request).gettext("cross-origin form refused") + "\n"),
            request[WHO],
        )
    if reason:
        stale = voice(request).gettext("missing or stale form token: reload the page")
        answer = web.HTTPForbidden(text=stale + "\n")
        raise console.refusals.refuse(request, reason, answer, request[WHO])
    return form


def _back(path: str, notice: str, **query: str) -> web.HTTPSeeOther:
    """Back to the page, with one of the `pages.NOTICES` by its key."""
    return web.HTTPSeeOther(location=str(URL(path).with_query(query | {"notice": notice})))


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
        "SELECT message_id, reason, body_excerpt, replayed_at FROM dead_letters WHERE id = $1",
        record_id,
    )
    if row is None:
        raise web.HTTPNotFound(text=f"no dead letter #{record_id}\n")
    if row["replayed_at"] is not None:
        raise _back("/dead-letters", "replay-done")
    if not advise(row["reason"], row["body_excerpt"], None).replayable:
        raise _back("/dead-letters", "replay-refused")
    chosen = Chosen(record_id, row["message_id"], row["reason"])
    missed = await replay_rows(console.settings, console.pool, [chosen], request[WHO])
    result = "replay-missing" if missed else "replayed"
    log.info(
        "console action",
        action="replay",
        who=request[WHO],
        dead_letter=record_id,
        message_id=row["message_id"],
        result=result,
    )
    raise _back("/dead-letters", result)


async def replay_bulk(request: web.Request) -> web.Response:
    """The confirmed bulk replay: the rows listed on the confirmation page that are still
    waiting and still replayable."""
    console, form = await _allowed_form(request)
    reason = params.choice("reason", _field(form, "reason"), REASONS)
    ids = [params.integer("id", value) for value in _fields(form, "id")]
    if len(ids) > BULK:
        raise params.BadParameter(f"id: at most {BULK} dead letters at once")
    chosen = bulk_selection(await bulk_candidates(request, reason, ids))
    rows = [Chosen(letter["id"], letter["message_id"], reason) for letter in chosen]
    missed = await replay_rows(console.settings, console.pool, rows, request[WHO])
    log.info(
        "console action",
        action="bulk replay",
        who=request[WHO],
        reason=reason,
        asked=len(ids),
        replayed=len(rows) - len(missed),
        missing=len(missed),
    )
    notice = "bulk-missing" if missed else "bulk-replayed" if rows else "bulk-none"
    raise _back("/dead-letters", notice, reason=reason)


async def dismiss_dead_letter(request: web.Request) -> web.Response:
    console = await _allowed(request)
    record_id = params.integer("dead letter", request.match_info["record_id"])
    dismissed = await console.pool.fetchval(
        "UPDATE dead_letters SET dismissed_at = now(), dismissed_by = $2"
        " WHERE id = $1 AND dismissed_at IS NULL AND replayed_at IS NULL RETURNING id",
        record_id,
        request[WHO],
    )
    if dismissed is None:
        if not await console.pool.fetchval("SELECT 1 FROM dead_letters WHERE id = $1", record_id):
            raise web.HTTPNotFound(text=f"no dead letter #{record_id}\n")
        raise _back("/dead-letters", "dismiss-done")
    log.info("console action", action="dismiss", who=request[WHO], dead_letter=record_id)
    raise _back("/dead-letters", "dismissed")


def _field(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _fields(form: Form, name: str) -> list[str]:
    return [value for value in form.getall(name, []) if isinstance(value, str)]
