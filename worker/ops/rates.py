"""Flagged requests per OC and week against the requests the OC had finished: a rate per 100
interventions, so that a bigger OC does not just look worse (`worker findings`, the console's
findings page and its chart).

A request counts once, in the week of its last finding in the period, at its worst finding's
severity; the interventions of a week are the OC's requests finished (whatever their status)
that week. Weeks start on Monday, UTC;
the period's first and last weeks are partial, for the flagged and the finished alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.ops.status import Db

# Flagged requests per OC, week (that of the request's last finding in the period) and worst
# severity; the findings selected as `ops.quality`'s.
_FLAGGED = """
SELECT code_oc, date_trunc('week', flagged_at AT TIME ZONE 'UTC') AS week,
    CASE WHEN suspect > 0 THEN 'suspect' WHEN warning > 0 THEN 'warning' ELSE 'info' END AS worst,
    count(*) AS requests, sum(findings)::bigint AS findings
FROM (
    SELECT f.message_id, f.code_oc, count(*) AS findings, max(f.created_at) AS flagged_at,
        count(*) FILTER (WHERE f.severity = 'suspect') AS suspect,
        count(*) FILTER (WHERE f.severity = 'warning') AS warning
    FROM photo_findings f
    WHERE f.created_at >= $1::timestamptz
        AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
    GROUP BY f.message_id, f.code_oc
) per_request
GROUP BY 1, 2, 3
"""
# Requests finished per OC in each of the weeks asked ($2, Mondays, UTC), from $1 on: the OCs by
# a skip scan, then one range count per OC and week, each read from photo_requests_finished_oc
# alone (migration 0022). Grouping the period's rows by week instead (date_trunc on each) took
# twice as long for 90 days of a million requests.
_FINISHED = """
WITH RECURSIVE ocs(code_oc) AS (
    (SELECT code_oc FROM photo_requests WHERE completed_at IS NOT NULL ORDER BY code_oc LIMIT 1)
    UNION ALL
    SELECT (SELECT r.code_oc FROM photo_requests r WHERE r.completed_at IS NOT NULL
            AND r.code_oc > o.code_oc ORDER BY r.code_oc LIMIT 1)
    FROM ocs o WHERE o.code_oc IS NOT NULL
)
SELECT k.code_oc, w.week, (
    SELECT count(*) FROM photo_requests r
    WHERE r.code_oc = k.code_oc AND r.completed_at IS NOT NULL
        AND r.completed_at >= greatest(w.week AT TIME ZONE 'UTC', $1::timestamptz)
        AND r.completed_at < (w.week + interval '7 days') AT TIME ZONE 'UTC'
) AS finished
FROM ocs k CROSS JOIN unnest($2::timestamp[]) AS w(week)
WHERE k.code_oc IS NOT NULL AND ($3::text IS NULL OR k.code_oc = $3)
"""


class ClosedWeeks:
    """The requests finished in the weeks that have ended, per OC, kept `ttl` seconds: a request
    finishes now, so an ended week changes only when one of its requests is refetched or purged.
    A console keeps one, and counts only the period's first (partial) and current weeks."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._weeks: dict[datetime, tuple[float, list[dict[str, Any]]]] = {}

    def get(self, week: datetime) -> list[dict[str, Any]] | None:
        kept = self._weeks.get(week)
        return kept[1] if kept and time.monotonic() - kept[0] < self._ttl else None

    def put(self, week: datetime, rows: list[dict[str, Any]]) -> None:
        self._weeks[week] = (time.monotonic(), rows)


def mondays(first: datetime, last: datetime) -> list[datetime]:
    """The Monday (UTC, naive, as PostgreSQL's date_trunc gives it) of each week from `first` to
    `last`."""
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    monday = datetime(first.year, first.month, first.day) - timedelta(days=first.weekday())
    weeks = []
    while monday <= last.replace(tzinfo=None):
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


@dataclass
class Rates:
    weeks: list[dict[str, Any]]  # code_oc, week (its Monday), worst, requests, findings
    finished_weeks: list[dict[str, Any]]  # code_oc, week, finished
    finished: dict[str, int]  # OC -> requests finished in the period, "all" -> every OC


async def measure_rates(
    conn: Db, start: datetime, oc: str | None, kind: str | None, kept: ClosedWeeks | None = None
) -> Rates:
    weeks = [dict(row) for row in await conn.fetch(_FLAGGED, start, oc, kind)]
    finished_weeks = await _finished(conn, start, oc, kept)
    finished_weeks = [row for row in finished_weeks if row["finished"]]
    finished: dict[str, int] = {}
    for row in finished_weeks:
        finished[row["code_oc"]] = finished.get(row["code_oc"], 0) + row["finished"]
    return Rates(
        weeks, finished_weeks, dict(sorted(finished.items())) | {"all": sum(finished.values())}
    )


async def _finished(
    conn: Db, start: datetime, oc: str | None, kept: ClosedWeeks | None
) -> list[dict[str, Any]]:
    all_weeks = mondays(start, datetime.now(UTC))
    closed = all_weeks[1:-1] if kept else []  # the first is partial, the last goes on
    cached = {week: kept.get(week) for week in closed} if kept else {}
    counted = [week for week in all_weeks if cached.get(week) is None]
    rows = [dict(r) for r in await conn.fetch(_FINISHED, start, counted, None if kept else oc)]
    if kept:
        for week in closed:
            if cached[week] is None:
                kept.put(week, [row for row in rows if row["week"] == week])
    every = rows + [row for week_rows in cached.values() if week_rows for row in week_rows]
    return [row for row in every if oc is None or row["code_oc"] == oc]


def per_hundred(flagged: int, finished: int) -> float | None:
    """Flagged requests per 100 finished; none when nothing finished."""
    return 100 * flagged / finished if finished else None
