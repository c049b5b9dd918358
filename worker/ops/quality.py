"""`worker findings`: what the photo checks flagged, per OC and kind, worst requests first.

The table a quality team sends to an OC: how many of its requests were flagged, for what, and
which ones to look at first (most `suspect` findings, then `warning`, then `info`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.findings.model import KINDS
from worker.ops.formatting import plain, table
from worker.ops.rates import ClosedWeeks, Rates, measure_rates, per_hundred
from worker.ops.status import Db

SEVERITIES = ("suspect", "warning", "info")


@dataclass(frozen=True)
class Selection:
    since: timedelta
    oc: str | None = None
    kind: str | None = None
    limit: int = 20
    start: datetime | None = None  # instead of now - since: a start a link can repeat
    findings: bool = False  # also each finding of the listed requests (the CSV's rows)

    def first(self) -> datetime:
        return self.start or datetime.now(UTC) - self.since


@dataclass
class QualityReport:
    since: str
    oc: str | None
    kind: str | None
    counts: list[dict[str, Any]]  # per OC and kind: findings, requests, by severity
    requests: list[dict[str, Any]]  # the worst first
    flagged: dict[str, int]  # OC -> requests flagged (any kind), "all" -> every OC
    rates: Rates
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # messageId -> rows

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(asdict(self))
        return result


# Each selects the findings created since $1, of OC $2 and kind $3 (when given).
# Per OC and kind: each request's findings first (hashed), then its requests counted, rather
# than count(DISTINCT), which sorts every finding of the period.
_COUNTS = """
SELECT code_oc, kind, sum(n)::bigint AS findings, count(*) AS requests,
    sum(suspect)::bigint AS suspect, sum(warning)::bigint AS warning, sum(info)::bigint AS info
FROM (
    SELECT f.message_id, f.code_oc, f.kind, count(*) AS n,
        count(*) FILTER (WHERE f.severity = 'suspect') AS suspect,
        count(*) FILTER (WHERE f.severity = 'warning') AS warning,
        count(*) FILTER (WHERE f.severity = 'info') AS info
    FROM photo_findings f
    WHERE f.created_at >= $1::timestamptz
        AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
    GROUP BY f.message_id, f.code_oc, f.kind
) per_request
GROUP BY code_oc, kind
"""
# The CSV's rows: each finding, its request's worst first.
_FINDINGS = """
SELECT f.message_id, f.kind, f.severity, f.detail, f.photo_ids, f.related_message_id,
    f.created_at AS flagged_at
FROM photo_findings f
WHERE f.created_at >= $1::timestamptz
    AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
ORDER BY array_position(ARRAY['suspect', 'warning', 'info'], f.severity), f.kind, f.id
"""
# The findings are ranked first and only the worst requests joined: joining every finding of a
# 90-day period to its request made PostgreSQL read all of photo_requests (255 ms for a million
# requests, against 110 ms this way). The kinds are gathered for the listed requests only ($5;
# the CSV has each finding already): a string_agg(DISTINCT) in the ranking sorted every finding
# of the period. The last tie-break is
# the latest finding of the request, which the photo checks write with its final status.
_WORST = """
WITH ranked AS (
    SELECT f.message_id, f.code_oc,
        count(*) FILTER (WHERE f.severity = 'suspect') AS suspect,
        count(*) FILTER (WHERE f.severity = 'warning') AS warning,
        count(*) FILTER (WHERE f.severity = 'info') AS info,
        max(f.created_at) AS flagged_at
    FROM photo_findings f
    WHERE f.created_at >= $1::timestamptz
        AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
    GROUP BY f.message_id, f.code_oc
    ORDER BY suspect DESC, warning DESC, info DESC, flagged_at DESC
    LIMIT $4
)
SELECT k.message_id, k.code_oc, coalesce(r.reference_commande_sous_traitant_oi,
        r.reference_commande_prise_interne_oc, r.reference_prestation_prise) AS reference,
    r.status, r.date_intervention, r.completed_at, k.suspect, k.warning, k.info,
    CASE WHEN $5 THEN (SELECT string_agg(DISTINCT f.kind, ', ') FROM photo_findings f
        WHERE f.message_id = k.message_id AND f.created_at >= $1::timestamptz
            AND ($3::text IS NULL OR f.kind = $3)) END AS kinds
FROM ranked k JOIN photo_requests r USING (message_id)
ORDER BY k.suspect DESC, k.warning DESC, k.info DESC, k.flagged_at DESC
"""


async def build_quality_report(
    conn: Db, wanted: Selection, kept: ClosedWeeks | None = None
) -> QualityReport:
    start = wanted.first()
    args = (start, wanted.oc, wanted.kind)
    counting = _fetcher(conn, _COUNTS, *args)
    ranking = _fetcher(conn, _WORST, *args, wanted.limit, not wanted.findings)
    if hasattr(conn, "acquire"):
        # A pool (the console): each part groups the period's findings by request, at once on
        # connections of their own, 1.5 times sooner for 90 days (docs/benchmarks.md).
        counted, rates, worst = await asyncio.gather(
            counting(), measure_rates(conn, start, wanted.oc, wanted.kind, kept), ranking()
        )
    else:  # one connection (`worker findings`) runs one statement at a time
        counted = await counting()
        rates = await measure_rates(conn, start, wanted.oc, wanted.kind, kept)
        worst = await ranking()
    counts = [dict(row) for row in counted]
    counts.sort(key=lambda c: (c["code_oc"], KINDS.index(c["kind"]) if c["kind"] in KINDS else 99))
    flagged: dict[str, int] = {}
    for week in rates.weeks:  # each request in one week: that of its last finding
        flagged[week["code_oc"]] = flagged.get(week["code_oc"], 0) + week["requests"]
    report = QualityReport(
        since=start.isoformat(timespec="seconds"),
        oc=wanted.oc,
        kind=wanted.kind,
        counts=counts,
        requests=[dict(row) for row in worst],
        flagged=dict(sorted(flagged.items())) | {"all": sum(flagged.values())},
        rates=rates,
    )
    if wanted.findings:
        listed = {r["message_id"] for r in report.requests}
        for row in await conn.fetch(_FINDINGS, *args):
            if row["message_id"] in listed:
                report.findings.setdefault(str(row["message_id"]), []).append(dict(row))
        for request in report.requests:
            kinds = {f["kind"] for f in report.findings.get(str(request["message_id"]), [])}
            request["kinds"] = ", ".join(sorted(kinds))
    return report


def _fetcher(conn: Db, sql: str, *args: Any) -> Callable[[], Awaitable[list[Any]]]:
    async def fetch() -> list[Any]:
        rows: list[Any] = await conn.fetch(sql, *args)
        return rows

    return fetch


def render_text(report: QualityReport) -> str:
    scope = f"OC {report.oc}" if report.oc else "all OCs"
    scope += f", kind {report.kind}" if report.kind else ""
    lines = [f"Photo findings since {report.since} ({scope})", "", "By OC and kind:"]
    lines += (
        table(
            ["OC", "kind", "findings", "requests", *SEVERITIES],
            [
                [c["code_oc"], c["kind"], c["findings"], c["requests"], *_levels(c)]
                for c in report.counts
            ],
        )
        if report.counts
        else ["  none"]
    )
    lines += ["", "Requests flagged per 100 interventions (requests finished in the period):"]
    lines += table(
        ["OC", "flagged", "finished", "per 100"],
        [
            [oc, n, report.rates.finished.get(oc, 0), _rate(n, report.rates.finished.get(oc, 0))]
            for oc, n in report.flagged.items()
        ],
    )
    shown = f"{len(report.requests)} of {report.flagged['all']}"
    lines += ["", f"Requests to look at first ({shown}):"]
    lines += (
        table(
            ["messageId", "OC", "reference", "completed", *SEVERITIES, "kinds"],
            [
                [
                    r["message_id"],
                    r["code_oc"],
                    r["reference"],
                    _day(r["completed_at"]),
                    *_levels(r),
                    r["kinds"],
                ]
                for r in report.requests
            ],
        )
        if report.requests
        else ["  none"]
    )
    return "\n".join(lines)


REQUEST_COLUMNS = (
    "message_id",
    "code_oc",
    "reference",
    "status",
    "date_intervention",
    "completed_at",
)
FINDING_COLUMNS = ("kind", "severity", "detail", "photo_ids", "related_message_id", "flagged_at")


def render_csv(report: QualityReport, delimiter: str = ",", origin: str | None = None) -> str:
    """One row per finding, the worst requests first, each with its request's columns and
    counts, and a link to the request's page on the console at `origin` (when known): what a
    spreadsheet or an OC wants. Every text cell is quoted (a spreadsheet whose list separator is
    not `delimiter` still reads it as one cell), and made inert."""
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=delimiter, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n"
    )
    writer.writerow([*REQUEST_COLUMNS, *SEVERITIES, "kinds", *FINDING_COLUMNS, "link"])
    for row in plain(report.requests):
        cells = [row[c] for c in REQUEST_COLUMNS] + [row[s] for s in SEVERITIES] + [row["kinds"]]
        link = f"{origin}/requests/{row['message_id']}#findings" if origin else ""
        for finding in plain(report.findings.get(row["message_id"], [{}])):
            detail = [finding.get(c) for c in FINDING_COLUMNS]
            detail[3] = " ".join(detail[3] or [])  # the photo ids
            writer.writerow([inert(cell) for cell in [*cells, *detail, link]])
    return out.getvalue()


def inert(cell: Any) -> Any:
    """A spreadsheet runs a text cell that starts like a formula (a reference comes from outside),
    and one that opens the file with another list separator splits a cell at `;` or `,`: every
    such part that starts like a formula gets a leading quote (OWASP's advice for CSV injection).
    """
    if not isinstance(cell, str):
        return "" if cell is None else cell
    return _PART_START.sub(lambda m: m[1] + "'" + m[2], cell)


# The start of the cell or of a part after `;` or `,`, spaces skipped, then a formula's start.
_PART_START = re.compile(r"(^|[;,]\s*)([=+\-@\t\r])")


def render_json(report: QualityReport) -> str:
    return json.dumps(report.as_json(), indent=2)


def _levels(row: dict[str, Any]) -> list[int]:
    return [row[severity] for severity in SEVERITIES]


def _rate(flagged: int, finished: int) -> str:
    rate = per_hundred(flagged, finished)
    return "-" if rate is None else f"{rate:.1f}"


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
