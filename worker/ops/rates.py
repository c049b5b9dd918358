"""Flagged requests per OC and week against the requests the OC had finished: a rate per 100
interventions, so that a bigger OC does not just look worse (`worker findings`, the console's
findings page and its chart).

A request counts once in a week, at its worst finding's severity; the interventions of a week
are the OC's requests finished (whatever their status) that week. Weeks start on Monday, UTC;
the period's first and last weeks are partial, for the flagged and the finished alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.ops.status import Db

# Flagged requests per OC, week and worst severity; the findings selected as `ops.quality`'s.
_FLAGGED = """
SELECT code_oc, week, worst, count(*) AS requests, sum(findings)::int AS findings
FROM (
    SELECT f.message_id, f.code_oc, date_trunc('week', f.created_at AT TIME ZONE 'UTC') AS week,
        (ARRAY['info', 'warning', 'suspect'])[
            max(array_position(ARRAY['info', 'warning', 'suspect'], f.severity))] AS worst,
        count(*) AS findings
    FROM photo_findings f
    WHERE f.created_at >= $1::timestamptz
        AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
    GROUP BY f.message_id, f.code_oc, week
) flagged
GROUP BY code_oc, week, worst
"""
# Requests finished per OC and week: an index-only scan of photo_requests_completed_oc (0022).
_FINISHED = """
SELECT code_oc, date_trunc('week', completed_at AT TIME ZONE 'UTC') AS week, count(*) AS finished
FROM photo_requests
WHERE completed_at >= $1::timestamptz AND ($2::text IS NULL OR code_oc = $2)
GROUP BY code_oc, week
"""


@dataclass
class Rates:
    weeks: list[dict[str, Any]]  # code_oc, week (its Monday), worst, requests, findings
    finished_weeks: list[dict[str, Any]]  # code_oc, week, finished
    finished: dict[str, int]  # OC -> requests finished in the period, "all" -> every OC


async def measure_rates(conn: Db, start: datetime, oc: str | None, kind: str | None) -> Rates:
    weeks = [dict(row) for row in await conn.fetch(_FLAGGED, start, oc, kind)]
    finished_weeks = [dict(row) for row in await conn.fetch(_FINISHED, start, oc)]
    finished: dict[str, int] = {}
    for row in finished_weeks:
        finished[row["code_oc"]] = finished.get(row["code_oc"], 0) + row["finished"]
    return Rates(
        weeks, finished_weeks, dict(sorted(finished.items())) | {"all": sum(finished.values())}
    )


def per_hundred(flagged: int, finished: int) -> float | None:
    """Flagged requests per 100 finished; none when nothing finished."""
    return 100 * flagged / finished if finished else None
