"""`worker findings`: what the photo checks flagged, per OC and kind, worst requests first.

The table a quality team sends to an OC: how many of its requests were flagged, for what, and
which ones to look at first (most `suspect` findings, then `warning`, then `info`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.findings.model import KINDS
from worker.ops.formatting import plain, table
from worker.ops.status import Db

SEVERITIES = ("suspect", "warning", "info")


@dataclass(frozen=True)
class Selection:
    since: timedelta
    oc: str | None = None
    kind: str | None = None
    limit: int = 20


@dataclass
class QualityReport:
    since: str
    oc: str | None
    kind: str | None
    counts: list[dict[str, Any]]  # per OC and kind: findings, requests, by severity
    requests: list[dict[str, Any]]  # the worst first

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(asdict(self))
        return result


# Both select the findings created since $1, of OC $2 and kind $3 (when given).
_COUNTS = """
SELECT f.code_oc, f.kind, count(*) AS findings, count(DISTINCT f.message_id) AS requests,
    count(*) FILTER (WHERE f.severity = 'suspect') AS suspect,
    count(*) FILTER (WHERE f.severity = 'warning') AS warning,
    count(*) FILTER (WHERE f.severity = 'info') AS info
FROM photo_findings f
WHERE f.created_at >= now() - $1::interval
    AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
GROUP BY f.code_oc, f.kind
"""
# The findings are ranked first and only the worst requests joined: joining every finding of a
# 90-day period to its request made PostgreSQL read all of photo_requests (255 ms for a million
# requests, against 110 ms this way). The last tie-break is the latest finding of the request,
# which the photo checks write with its final status.
_WORST = """
WITH ranked AS (
    SELECT f.message_id, f.code_oc,
        count(*) FILTER (WHERE f.severity = 'suspect') AS suspect,
        count(*) FILTER (WHERE f.severity = 'warning') AS warning,
        count(*) FILTER (WHERE f.severity = 'info') AS info,
        string_agg(DISTINCT f.kind, ', ') AS kinds,
        max(f.created_at) AS flagged_at
    FROM photo_findings f
    WHERE f.created_at >= now() - $1::interval
        AND ($2::text IS NULL OR f.code_oc = $2) AND ($3::text IS NULL OR f.kind = $3)
    GROUP BY f.message_id, f.code_oc
    ORDER BY suspect DESC, warning DESC, info DESC, flagged_at DESC
    LIMIT $4
)
SELECT k.message_id, k.code_oc, coalesce(r.reference_commande_sous_traitant_oi,
        r.reference_commande_prise_interne_oc, r.reference_prestation_prise) AS reference,
    r.status, r.date_intervention, r.completed_at, k.suspect, k.warning, k.info, k.kinds
FROM ranked k JOIN photo_requests r USING (message_id)
ORDER BY k.suspect DESC, k.warning DESC, k.info DESC, k.flagged_at DESC
"""


async def build_quality_report(conn: Db, wanted: Selection) -> QualityReport:
    args = (wanted.since, wanted.oc, wanted.kind)
    counts = [dict(row) for row in await conn.fetch(_COUNTS, *args)]
    counts.sort(key=lambda c: (c["code_oc"], KINDS.index(c["kind"]) if c["kind"] in KINDS else 99))
    return QualityReport(
        since=(datetime.now(UTC) - wanted.since).isoformat(timespec="seconds"),
        oc=wanted.oc,
        kind=wanted.kind,
        counts=counts,
        requests=[dict(row) for row in await conn.fetch(_WORST, *args, wanted.limit)],
    )


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
    lines += ["", f"Requests to look at first ({len(report.requests)}):"]
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


def render_csv(report: QualityReport, delimiter: str = ",") -> str:
    """One row per flagged request, worst first: what a spreadsheet or an OC wants. Every text
    cell is quoted (a spreadsheet whose list separator is not `delimiter` still reads it as one
    cell), and made inert."""
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=delimiter, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n"
    )
    columns = ["message_id", "code_oc", "reference", "status", "date_intervention", "completed_at"]
    writer.writerow([*columns, *SEVERITIES, "kinds"])
    for row in plain(report.requests):
        cells = [row[c] for c in columns] + [row[s] for s in SEVERITIES] + [row["kinds"]]
        writer.writerow([inert(cell) for cell in cells])
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


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
