"""The dead letters pages: messages refused at intake, counted by reason, newest first, each with
what became of it; and the confirmation page of a bulk replay."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from worker.console import params
from worker.console.dead_letter_rows import COUNTS, STATES, WAITING, fetch_letters
from worker.console.pages import render, state
from worker.console.replay_advice import HOPELESS
from worker.ops.replay import REASONS

PAGE = 50
BULK = 500  # at most this many rows per bulk replay: the confirmation page lists them all


async def dead_letters_page(request: web.Request) -> web.Response:
    query = request.query
    reason = params.choice("reason", query["reason"], REASONS) if query.get("reason") else None
    shown = params.choice("state", query["state"], STATES) if query.get("state") else None
    before = params.integer("before", query["before"]) if query.get("before") else None
    where: list[str] = []
    args: list[Any] = []
    if reason:
        args.append(reason)
        where.append(f"d.reason = ${len(args)}")
    if shown:
        where.append(STATES[shown])
    if before is not None:
        args.append(before)
        where.append(f"d.id < ${len(args)}")
    console = state(request)
    letters = await fetch_letters(console.pool, console.settings, where, args, PAGE + 1)
    counts = [dict(row) for row in await console.pool.fetch(COUNTS)]
    chosen: dict[str, Any] = {"reason": reason, "state": shown}
    more = {"before": letters[PAGE - 1]["id"]} if len(letters) > PAGE else None
    context = {
        "letters": letters[:PAGE],
        "counts": counts,
        "reasons": REASONS,
        "hopeless": HOPELESS,
        "states": tuple(STATES),
        "chosen": chosen,
        "next_query": chosen | more if more else None,
        "first_query": chosen if before is not None else None,
    }
    return render(request, "dead_letters.html", context)


async def bulk_replay_page(request: web.Request) -> web.Response:
    """What a bulk replay of one reason would send back, and what it leaves out and why."""
    reason = params.choice("reason", request.query.get("reason", ""), REASONS)
    console = state(request)
    letters = await bulk_candidates(request, reason, None)
    chosen = bulk_selection(letters)
    left = [letter for letter in letters if not _bulk(letter)]
    context = {"reason": reason, "chosen": chosen, "left": left, "bulk_limit": BULK}
    context["actions_on"] = console.settings.console_actions
    return render(request, "dead_letters_bulk.html", context)


async def bulk_candidates(
    request: web.Request, reason: str, ids: list[int] | None
) -> list[dict[str, Any]]:
    """The waiting dead letters of this reason (of these ids, if given), oldest first."""
    console = state(request)
    where = ["d.reason = $1", WAITING]
    args: list[Any] = [reason]
    if ids is not None:
        args.append(ids)
        where.append("d.id = ANY($2::bigint[])")
    letters = await fetch_letters(console.pool, console.settings, where, args, BULK)
    return letters[::-1]


def bulk_selection(letters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [letter for letter in letters if _bulk(letter)]


def _bulk(letter: dict[str, Any]) -> bool:
    advice = letter["advice"]
    return bool(advice.replayable and not advice.doubtful)
