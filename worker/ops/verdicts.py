"""Analysts' verdicts on findings (confirmed or false alarm), the queue of requests whose
suspect findings nobody has judged yet, and the precision of each kind that the verdicts give:
the first measure of the checks' accuracy on real photos."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from worker.ops.status import Db

Verdict = Literal["confirmed", "false_alarm"]
VERDICTS: tuple[Verdict, ...] = ("confirmed", "false_alarm")
QUEUE_DAYS = 30  # how far back the queue looks
QUEUE_SIZE = 200  # requests in the queue, worst first


@dataclass(frozen=True)
class Judgement:
    message_id: uuid.UUID
    kind: str
    photo_ids: tuple[uuid.UUID, ...]
    verdict: Verdict
    who: str
    comment: str = ""


_RECORD = """
INSERT INTO finding_verdicts (message_id, kind, photo_ids, code_oc, verdict, decided_by, comment)
SELECT f.message_id, f.kind, f.photo_ids, f.code_oc, $4, $5, $6
FROM photo_findings f
WHERE f.message_id = $1 AND f.kind = $2 AND f.photo_ids = $3::uuid[]
LIMIT 1
ON CONFLICT (message_id, kind, photo_ids) DO UPDATE SET
    verdict = excluded.verdict, decided_by = excluded.decided_by,
    decided_at = now(), comment = excluded.comment
RETURNING code_oc
"""


async def record_verdict(conn: Db, judgement: Judgement) -> str | None:
    """Record (or change) the verdict; the OC of the finding, or None if there is no such
    finding (a review run again may have dropped it)."""
    code: str | None = await conn.fetchval(
        _RECORD,
        judgement.message_id,
        judgement.kind,
        list(judgement.photo_ids),
        judgement.verdict,
        judgement.who,
        judgement.comment,
    )
    return code


# Suspect findings of the last days without a verdict, grouped by request, worst first. The
# partial index on recent suspect findings keeps this a range read, not a scan of all findings.
_QUEUE = """
WITH open AS (
    SELECT f.message_id, f.code_oc, count(*) AS suspect, max(f.created_at) AS flagged_at,
        string_agg(DISTINCT f.kind, ', ') AS kinds
    FROM photo_findings f
    WHERE f.severity = 'suspect' AND f.created_at >= now() - $1::interval
        AND ($2::text IS NULL OR f.code_oc = $2)
        AND NOT EXISTS (
            SELECT 1 FROM finding_verdicts v
            WHERE v.message_id = f.message_id AND v.kind = f.kind AND v.photo_ids = f.photo_ids)
    GROUP BY f.message_id, f.code_oc
    ORDER BY suspect DESC, flagged_at DESC
    LIMIT $3
)
SELECT o.message_id, o.code_oc, o.suspect, o.kinds, o.flagged_at,
    coalesce(r.reference_commande_sous_traitant_oi, r.reference_commande_prise_interne_oc,
             r.reference_prestation_prise) AS reference
FROM open o JOIN photo_requests r USING (message_id)
ORDER BY o.suspect DESC, o.flagged_at DESC
"""


async def review_queue(conn: Db, oc: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(_QUEUE, timedelta(days=QUEUE_DAYS), oc, QUEUE_SIZE)
    return [dict(row) for row in rows]


def neighbours(
    queue: list[dict[str, Any]], message_id: uuid.UUID
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The requests before and after this one in the queue. A request just judged has left the
    queue: its next is then the queue's first."""
    ids = [row["message_id"] for row in queue]
    if message_id not in ids:
        return None, next(iter(ids), None)
    at = ids.index(message_id)
    before = ids[at - 1] if at > 0 else None
    after = ids[at + 1] if at + 1 < len(ids) else None
    return before, after


_PRECISION = """
SELECT kind, count(*) FILTER (WHERE verdict = 'confirmed') AS confirmed,
    count(*) FILTER (WHERE verdict = 'false_alarm') AS false_alarms
FROM finding_verdicts
WHERE decided_at >= now() - $1::interval AND ($2::text IS NULL OR code_oc = $2)
GROUP BY kind ORDER BY kind
"""


async def precision_by_kind(conn: Db, since: timedelta, oc: str | None) -> list[dict[str, Any]]:
    """Per kind: confirmed, false alarms, and confirmed / judged."""
    rows = await conn.fetch(_PRECISION, since, oc)
    return [
        dict(row) | {"precision": row["confirmed"] / (row["confirmed"] + row["false_alarms"])}
        for row in rows
    ]


async def verdict_counts(conn: Db) -> dict[tuple[str, str], int]:
    """How many verdicts of each (kind, verdict) are kept: an analyst's work, thousands of
    rows, not millions, so a count of the table."""
    rows = await conn.fetch(
        "SELECT kind, verdict, count(*) AS n FROM finding_verdicts GROUP BY kind, verdict"
    )
    return {(row["kind"], row["verdict"]): int(row["n"]) for row in rows}
