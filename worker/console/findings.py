"""The findings page: counts by OC and kind over a period, the worst requests first, and the
period's findings as CSV (streamed: a period may hold millions)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from worker.console.listing import hydrate
from worker.console.pages import render, state

PERIODS = (1, 7, 30, 90)  # days
WORST = 30
# How much a finding weighs when ranking requests: one suspect outweighs a few warnings.
_WEIGHTS = "CASE severity WHEN 'suspect' THEN 100 WHEN 'warning' THEN 10 ELSE 1 END"
_OC = re.compile(r"^[A-Z0-9]{4}$")
_KIND = re.compile(r"^[a-z_]{1,40}$")
_FORMULA_STARTS = frozenset("=+-@\t\r")
_CSV_COLUMNS = (
    "created_at",
    "message_id",
    "code_oc",
    "kind",
    "severity",
    "photo_ids",
    "detail",
    "related_message_id",
)


@dataclass(frozen=True)
class Period:
    days: int
    oc: str | None
    kind: str | None

    @classmethod
    def parse(cls, query: Any) -> Period:
        days = int(query["days"]) if query.get("days", "").isdigit() else 7
        oc = query.get("oc", "").upper() or None
        kind = query.get("kind") or None
        if days not in PERIODS or (oc and not _OC.match(oc)) or (kind and not _KIND.match(kind)):
            raise web.HTTPBadRequest(text=f"days one of {PERIODS}; oc 4 characters; kind a-z_\n")
        return cls(days, oc, kind)

    def where(self) -> tuple[str, list[Any]]:
        """Conditions on `photo_findings` and their arguments ($1 is the start)."""
        clauses = ["created_at >= $1"]
        args: list[Any] = [self.start()]
        for column, value in (("code_oc", self.oc), ("kind", self.kind)):
            if value:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        return " AND ".join(clauses), args

    def start(self) -> datetime:
        return datetime.now(UTC) - timedelta(days=self.days)

    def query(self) -> dict[str, str]:
        values = {"days": str(self.days), "oc": self.oc or "", "kind": self.kind or ""}
        return {k: v for k, v in values.items() if v}


async def counts(pool: asyncpg.Pool, period: Period) -> dict[str, dict[str, int]]:
    """kind -> OC -> findings, over the period."""
    where, args = period.where()
    rows = await pool.fetch(
        f"SELECT kind, code_oc, count(*) AS n FROM photo_findings WHERE {where}"
        " GROUP BY kind, code_oc ORDER BY kind, code_oc",
        *args,
    )
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        table.setdefault(row["kind"], {})[row["code_oc"]] = row["n"]
    return table


async def worst(pool: asyncpg.Pool, period: Period) -> list[dict[str, Any]]:
    """The requests flagged the most gravely over the period, with their findings."""
    where, args = period.where()
    ranked = await pool.fetch(
        f"SELECT message_id, sum({_WEIGHTS}) AS score FROM photo_findings"
        f" WHERE {where} GROUP BY message_id ORDER BY score DESC, max(id) DESC LIMIT {WORST}",
        *args,
    )
    rows = await hydrate(pool, [row["message_id"] for row in ranked])
    scores = {row["message_id"]: row["score"] for row in ranked}
    return [row | {"score": scores[row["message_id"]]} for row in rows]


async def findings_page(request: web.Request) -> web.Response:
    period = Period.parse(request.query)
    pool = state(request).pool
    table = await counts(pool, period)
    ocs = sorted({oc for by_oc in table.values() for oc in by_oc})
    context = {
        "period": period,
        "periods": PERIODS,
        "table": table,
        "ocs": ocs,
        "worst": await worst(pool, period),
    }
    return render(request, "findings.html", context)


async def findings_csv(request: web.Request) -> web.StreamResponse:
    """Every finding of the period, oldest first, read with a cursor and written as it comes."""
    period = Period.parse(request.query)
    where, args = period.where()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="findings-{period.days}d.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(_csv_line(_CSV_COLUMNS))
    async with state(request).pool.acquire() as conn, conn.transaction():
        sql = (
            f"SELECT {', '.join(_CSV_COLUMNS)} FROM photo_findings"
            f" WHERE {where} ORDER BY created_at, id"
        )
        async for row in conn.cursor(sql, *args, prefetch=1000):
            await response.write(_csv_line([_cell(row[c]) for c in _CSV_COLUMNS]))
    await response.write_eof()
    return response


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    text = str(value)
    # A spreadsheet would run a cell that starts like a formula (partner text can reach here).
    return "'" + text if text[:1] in _FORMULA_STARTS else text


def _csv_line(cells: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue().encode()
