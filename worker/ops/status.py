"""`worker status`: what waits, what failed, what is due next, and the dead letters."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from worker.events.topology import DEAD_QUEUE, QUEUE
from worker.observe.failures import AMQP_ERRORS
from worker.ops.formatting import plain, table
from worker.ops.limits import limits_lines, limits_or_reason
from worker.partners.duration import format_duration
from worker.resources import ServiceUnavailable, connect_broker
from worker.settings import Settings

# A connection or a pool: the commands hold one connection, the console a pool.
Db = asyncpg.Connection | asyncpg.Pool
STATUSES = ("pending", "completed", "unavailable", "expired", "failed")


@dataclass
class StatusReport:
    generated_at: str
    requests: dict[str, dict[str, int]]
    oldest_pending: dict[str, Any] | None
    next_due: list[dict[str, Any]]
    in_flight: dict[str, int]
    unsent_events: int
    queues: dict[str, int | None]
    recent_dead_letters: list[dict[str, Any]] = field(default_factory=list)
    last_purge: dict[str, Any] | None = None
    review: dict[str, Any] = field(default_factory=dict)
    partner_limits: list[dict[str, Any]] | str = field(default_factory=list)
    broker_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(asdict(self))
        return result


async def build_status(
    conn: asyncpg.Connection, settings: Settings, limit: int = 10
) -> StatusReport:
    requests = await count_requests(conn)
    waiting = [oc for oc, counts in requests.items() if counts["pending"]]
    report = StatusReport(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        requests=requests,
        oldest_pending=await oldest_pending(conn),
        next_due=[dict(r) for r in await conn.fetch(_NEXT_DUE, limit, waiting)],
        in_flight={r["lease_owner"]: r["n"] for r in await conn.fetch(_IN_FLIGHT)},
        unsent_events=await unsent_events(conn),
        queues={QUEUE: None, DEAD_QUEUE: None},
        recent_dead_letters=await recent_dead_letters(conn, 5),
        last_purge=await last_purge(conn),
        review=await review_backlog(conn),
        partner_limits=await limits_or_reason(conn, settings),
    )
    await _count_queues(settings, report)
    return report


async def count_requests(conn: Db) -> dict[str, dict[str, int]]:
    """Requests by OC and status, every status present for each OC, OCs in order."""
    requests: dict[str, dict[str, int]] = {}
    for row in await conn.fetch(_COUNTS):
        requests.setdefault(row["code_oc"], dict.fromkeys(STATUSES, 0))[row["status"]] = row["n"]
    return dict(sorted(requests.items()))


async def oldest_pending(conn: Db) -> dict[str, Any] | None:
    return _first(await conn.fetch(_OLDEST))


async def unsent_events(conn: Db) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def last_purge(conn: Db) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT started_at, seconds, deleted::text AS deleted, objects, run_by"
        " FROM purge_runs ORDER BY id DESC LIMIT 1"
    )
    if row is None:
        return None
    return dict(row) | {"deleted": json.loads(row["deleted"])}


async def review_backlog(conn: Db) -> dict[str, Any]:
    """Requests waiting for their review, the oldest's wait (the lag now), and the last hour's
    reviews with their median lag from stored to reviewed."""
    row = await conn.fetchrow(_REVIEW)
    return dict(row) if row is not None else {}


async def recent_dead_letters(conn: Db, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_DEAD_LETTERS, limit)]


# Two parts, so that each reads an index of its own: pending requests through the due index,
# finished ones through the index of finished requests (migrations 0004 and 0009).
_COUNTS = """
SELECT code_oc, 'pending' AS status, count(*) AS n FROM photo_requests
WHERE status = 'pending' GROUP BY code_oc
UNION ALL
SELECT code_oc, status, count(*) AS n FROM photo_requests
WHERE status <> 'pending' GROUP BY code_oc, status
"""
_OLDEST = """
SELECT message_id, code_oc, coalesce(reference_commande_sous_traitant_oi,
    reference_commande_prise_interne_oc, reference_prestation_prise) AS reference,
    received_at, attempts, last_http_status, last_error, next_attempt_at,
    extract(epoch FROM now() - received_at)::bigint AS age_seconds
FROM photo_requests WHERE status = 'pending' ORDER BY received_at LIMIT 1
"""
# The first few of each OC through the due index (code_oc, next_attempt_at), then the first of
# all: ordering every pending request by next_attempt_at would sort them all (100,000: 300 ms).
_NEXT_DUE = """
SELECT n.* FROM unnest($2::text[]) AS c(code_oc) CROSS JOIN LATERAL (
    SELECT message_id, code_oc, coalesce(reference_commande_sous_traitant_oi,
        reference_commande_prise_interne_oc, reference_prestation_prise) AS reference,
        next_attempt_at, attempts, last_http_status, lease_owner,
        extract(epoch FROM next_attempt_at - now())::bigint AS in_seconds
    FROM photo_requests p WHERE p.status = 'pending' AND p.code_oc = c.code_oc
    ORDER BY p.next_attempt_at LIMIT $1
) n ORDER BY n.next_attempt_at LIMIT $1
"""
_IN_FLIGHT = """
SELECT lease_owner, count(*) AS n FROM photo_requests
WHERE status = 'pending' AND lease_id IS NOT NULL GROUP BY lease_owner ORDER BY lease_owner
"""
# The waiting ones through the partial index of waiting reviews (migration 0014).
_REVIEW = """
SELECT w.waiting, w.under_review, w.oldest_seconds, d.last_hour, d.median_lag_seconds
FROM (
    SELECT count(*) AS waiting, count(lease_id) FILTER (WHERE lease_until > now())
            AS under_review,
        coalesce(extract(epoch FROM now() - min(queued_at)), 0)::bigint AS oldest_seconds
    FROM request_reviews WHERE reviewed_at IS NULL
) w, (
    SELECT count(*) AS last_hour, coalesce(extract(epoch FROM percentile_cont(0.5)
            WITHIN GROUP (ORDER BY reviewed_at - stored_at)), 0)::bigint AS median_lag_seconds
    FROM request_reviews WHERE reviewed_at > now() - interval '1 hour'
) d
"""
_DEAD_LETTERS = """
SELECT id, dead_lettered_at, message_id, reason, detail, replayed_at, replayed_by
FROM dead_letters ORDER BY id DESC LIMIT $1
"""


def _first(rows: list[asyncpg.Record]) -> dict[str, Any] | None:
    return dict(rows[0]) if rows else None


async def _count_queues(settings: Settings, report: StatusReport) -> None:
    try:
        connection = await connect_broker(settings)
    except ServiceUnavailable as exc:
        report.broker_error = str(exc)
        return
    try:
        channel = await connection.channel()
        for name in report.queues:
            declared = await (await channel.get_underlay_channel()).queue_declare(
                name, passive=True
            )
            report.queues[name] = declared.message_count
    except AMQP_ERRORS as exc:
        report.broker_error = f"RabbitMQ: {exc!r}"
    finally:
        await connection.close()


def render_status(report: StatusReport) -> str:
    lines = [f"photo-worker status at {report.generated_at}", "", "Requests by OC and status:"]
    lines += table(
        ["OC", *STATUSES],
        [[oc, *(counts[s] for s in STATUSES)] for oc, counts in report.requests.items()]
        or [["-", *(0 for _ in STATUSES)]],
    )
    lines += ["", _oldest_line(report.oldest_pending), "", "Next attempts due:"]
    lines += (
        table(
            ["when", "messageId", "OC", "reference", "attempts", "last HTTP", "held by"],
            [
                [
                    _relative(r["in_seconds"]),
                    r["message_id"],
                    r["code_oc"],
                    r["reference"],
                    r["attempts"],
                    r["last_http_status"] or "-",
                    r["lease_owner"] or "-",
                ]
                for r in report.next_due
            ],
        )
        if report.next_due
        else ["  none"]
    )
    held = ", ".join(f"{owner}: {n}" for owner, n in report.in_flight.items()) or "none"
    lines += [
        "",
        f"Attempts in flight: {held}",
        f"Result events not yet published: {report.unsent_events}",
        _review_line(report.review),
        "",
        _queues_line(report),
        "",
        *limits_lines(report.partner_limits),
        "",
    ]
    lines += _dead_letter_lines(report)
    lines += ["", _purge_line(report.last_purge)]
    return "\n".join(lines)


def _purge_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "Last purge: never (worker purge applies the retention settings)"
    deleted = ", ".join(f"{table} {n:,}" for table, n in sorted(run["deleted"].items()))
    return (
        f"Last purge: {run['started_at'].isoformat(timespec='seconds')}, {run['seconds']:.1f} s,"
        f" deleted {deleted}; {run['objects']:,} objects (by {run['run_by'] or '-'})"
    )


def _review_line(review: dict[str, Any]) -> str:
    if not review:
        return "Review: unknown"
    waiting = review["waiting"]
    lag = format_duration(review["oldest_seconds"]) if waiting else "none"
    return (
        f"Review: {waiting} request(s) waiting ({review['under_review']} under review), oldest"
        f" waiting {lag}; last hour {review['last_hour']} reviewed, median lag stored to"
        f" reviewed {format_duration(review['median_lag_seconds'])}"
    )


def _oldest_line(oldest: dict[str, Any] | None) -> str:
    if oldest is None:
        return "Oldest pending request: none"
    return (
        f"Oldest pending request: {oldest['message_id']} ({oldest['code_oc']}, "
        f"{oldest['reference']}), received {format_duration(oldest['age_seconds'])} ago, "
        f"attempts {oldest['attempts']}, last HTTP {oldest['last_http_status'] or '-'}"
    )


def _queues_line(report: StatusReport) -> str:
    if report.broker_error:
        return f"Queues: unknown ({report.broker_error})"
    return "Queues: " + ", ".join(f"{name} {count} ready" for name, count in report.queues.items())


def _dead_letter_lines(report: StatusReport) -> list[str]:
    if not report.recent_dead_letters:
        return ["Dead letters recorded: none"]
    lines = ["Latest dead letters recorded:"]
    for row in report.recent_dead_letters:
        when = row["dead_lettered_at"].isoformat(timespec="seconds")
        replayed = row["replayed_at"]
        mark = f"replayed {replayed.isoformat(timespec='seconds')}" if replayed else "waiting"
        lines.append(
            f"  {when}  {mark:34}  {row['message_id'] or '-'}  {row['reason']}:"
            f" {row['detail'][:80]}"
        )
    return lines


def _relative(seconds: int) -> str:
    return "due now" if seconds <= 0 else f"in {format_duration(seconds)}"
