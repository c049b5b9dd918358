"""Dead letters as the console shows them: each row with what became of it (waiting, dismissed,
replayed and then refused again or recorded) and whether a replay can succeed.

A replay's outcome is read where intake leaves it, so it can never be out of date: the same
message dead-lettered again after the replay (a later row with the same messageId and body), or
the request recorded under the body's messageId.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from worker.console.replay_advice import advise, known_ocs
from worker.console.voice import N_
from worker.settings import Settings

# Conditions on `dead_letters d`.
WAITING = "(d.replayed_at IS NULL AND d.dismissed_at IS NULL)"
STATES = {
    "waiting": WAITING,
    "replayed": "d.replayed_at IS NOT NULL",
    "dismissed": "(d.replayed_at IS NULL AND d.dismissed_at IS NOT NULL)",
}

# The first row of the same message dead-lettered after the replay. The body is compared too:
# a messageId is the sender's, and may be missing.
_COLUMNS = """
SELECT d.id, d.dead_lettered_at, d.message_id, d.reason, d.detail, d.body_excerpt, d.worker,
       d.replayed_at, d.replayed_by, d.dismissed_at, d.dismissed_by,
       d.replay_missed_at, d.replay_missed_by, again.id AS again_id, again.reason AS again_reason
FROM dead_letters d
LEFT JOIN LATERAL (
    SELECT a.id, a.reason FROM dead_letters a
    WHERE d.replayed_at IS NOT NULL AND a.id > d.id AND a.dead_lettered_at >= d.replayed_at
      AND (a.message_id = d.message_id OR (a.message_id IS NULL AND d.message_id IS NULL))
      AND a.body_excerpt = d.body_excerpt
    ORDER BY a.id LIMIT 1
) again ON TRUE
"""

# By reason; the states as in STATES.
COUNTS = """
SELECT reason, count(*) AS total,
       count(*) FILTER (WHERE replayed_at IS NULL AND dismissed_at IS NULL) AS waiting,
       count(*) FILTER (WHERE replayed_at IS NOT NULL) AS replayed,
       count(*) FILTER (WHERE replayed_at IS NULL AND dismissed_at IS NOT NULL) AS dismissed
FROM dead_letters GROUP BY reason ORDER BY waiting DESC, reason
"""


async def fetch_letters(
    pool: asyncpg.Pool, settings: Settings, where: list[str], args: list[Any], limit: int
) -> list[dict[str, Any]]:
    """The rows (newest first), each with its `outcome` and its replay `advice`."""
    rows = await pool.fetch(letters_query(where, limit), *args)
    letters = [dict(row) for row in rows]
    recorded = await _recorded(pool, letters)
    known = (
        known_ocs(settings.partners_file)
        if any(letter["reason"] == "unknown_oc" for letter in letters)
        else None
    )
    for letter in letters:
        letter["advice"] = advise(letter["reason"], letter["body_excerpt"], known)
        letter["outcome"] = _outcome(letter, recorded)
    return letters


def letters_query(where: list[str], limit: int) -> str:
    """The rows under these conditions (on `d`), newest first, each with its refusal again."""
    return f"{_COLUMNS} WHERE {' AND '.join(where) or 'TRUE'} ORDER BY d.id DESC LIMIT {limit}"


def _outcome(letter: dict[str, Any], recorded: dict[str, str]) -> dict[str, Any]:
    """`state` (a CSS-safe word), `text`, and what to link to."""
    if letter["replayed_at"] is not None:
        if letter["again_id"] is not None:
            text = N_("replayed, refused again: %(reason)s", reason=letter["again_reason"])
            return {"state": "failed", "text": text, "again": letter["again_id"]}
        message_id = body_message_id(letter["body_excerpt"])
        if message_id in recorded:
            text = N_("replayed, recorded (%(status)s)", status=recorded[message_id])
            return {"state": "recorded", "text": text, "request": message_id}
        return {"state": "replayed", "text": N_("replayed, no outcome yet")}
    if letter["dismissed_at"] is not None:
        return {"state": "dismissed", "text": N_("dismissed")}
    if letter["replay_missed_at"] is not None:
        return {"state": "missed", "text": N_("replay failed: not in the dead-letter queue")}
    return {"state": "waiting", "text": N_("waiting")}


async def _recorded(pool: asyncpg.Pool, letters: list[dict[str, Any]]) -> dict[str, str]:
    """The status of the request of each replayed letter that intake recorded, by messageId."""
    wanted = {
        message_id
        for letter in letters
        if letter["replayed_at"] is not None and letter["again_id"] is None
        if (message_id := body_message_id(letter["body_excerpt"])) is not None
    }
    if not wanted:
        return {}
    rows = await pool.fetch(
        "SELECT message_id::text, status FROM photo_requests WHERE message_id = ANY($1::uuid[])",
        sorted(wanted),
    )
    return {row["message_id"]: row["status"] for row in rows}


def body_message_id(body_excerpt: str) -> str | None:
    """The body's messageId, as PostgreSQL writes a UUID; None if there is none to read."""
    try:
        body = json.loads(body_excerpt)
        return str(uuid.UUID(body["messageId"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
