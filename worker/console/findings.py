"""The findings page: counts by OC and kind over a period, the worst requests first, and the
same report as CSV. The report is `worker findings`' own (`ops.quality`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from worker.console import params
from worker.console.chart import draw
from worker.console.filters import instant_text
from worker.console.pages import render, state
from worker.findings.model import KINDS
from worker.ops.quality import QualityReport, Selection, build_quality_report, render_csv
from worker.ops.rates import ClosedWeeks, per_hundred
from worker.ops.verdicts import precision_by_kind

PERIODS = (1, 7, 30, 90)  # days
# The finished requests of ended weeks, the rates' denominators (most of a 90-day page's cost),
# kept this long: they change only when a request of theirs is refetched or purged.
WEEKS = web.AppKey("finished_weeks", ClosedWeeks)
KEPT_SECONDS = 600
WORST = 30  # requests listed on the page
EXPORTED = 100_000  # requests in a CSV export, worst first
_OC = re.compile(r"^[A-Z0-9]{4}$")


@dataclass(frozen=True)
class Period:
    days: int
    oc: str | None
    kind: str | None
    # The minute the period starts: what the drill-down links repeat, to the second.
    start: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(second=0, microsecond=0)
    )

    @classmethod
    def parse(cls, query: Any) -> Period:
        days = params.integer("days", query["days"], 1, 366) if query.get("days") else 7
        oc = params.text("oc", query.get("oc", ""), 4).upper() or None
        kind = params.choice("kind", query["kind"], KINDS) if query.get("kind") else None
        if days not in PERIODS:
            raise params.BadParameter(f"days {days}: one of {', '.join(map(str, PERIODS))}")
        if oc and not _OC.fullmatch(oc):
            raise params.BadParameter(f"oc {oc!r}: four letters or digits")
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=days)
        return cls(days, oc, kind, start)

    def selection(self, limit: int, findings: bool = False) -> Selection:
        since = timedelta(days=self.days)
        return Selection(since, self.oc, self.kind, limit, self.start, findings)

    def drill(self, kind: str, oc: str | None = None) -> dict[str, str]:
        """The requests list of what a count counted: the requests of this kind (and OC) with
        a finding flagged since the period's start."""
        wanted = {"kind": kind, "flagged_from": instant_text(self.start)}
        return wanted | ({"oc": oc} if oc else {})

    def query(self) -> dict[str, str]:
        values = {"days": str(self.days), "oc": self.oc or "", "kind": self.kind or ""}
        return {k: v for k, v in values.items() if v}


def by_kind_and_oc(report: QualityReport) -> tuple[list[str], dict[str, dict[str, int]]]:
    """The OCs, and kind -> OC -> requests flagged (what the drill-down lists), kinds in the
    order docs/findings.md lists them."""
    table: dict[str, dict[str, int]] = {}
    for count in report.counts:
        table.setdefault(count["kind"], {})[count["code_oc"]] = count["requests"]
    ordered = dict(sorted(table.items(), key=lambda item: _kind_rank(item[0])))
    return sorted({c["code_oc"] for c in report.counts}), ordered


def _kind_rank(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


async def findings_page(request: web.Request) -> web.Response:
    period = Period.parse(request.query)
    pool = state(request).pool
    report = await build_quality_report(pool, period.selection(WORST), request.app[WEEKS])
    precision = await precision_by_kind(pool, timedelta(days=period.days), period.oc)
    ocs, table = by_kind_and_oc(report)
    context = {
        "period": period,
        "periods": PERIODS,
        "kinds": KINDS,
        "table": table,
        "ocs": ocs,
        "worst": report.requests,
        "flagged": report.flagged,
        "finished": report.rates.finished,
        "per_hundred": per_hundred,
        "chart": draw(report.rates, report.flagged, period.start, datetime.now(UTC)),
        "precision": precision,
    }
    return render(request, "findings.html", context)


# `;` by default: what a spreadsheet in a French locale (whose list separator it is) opens as
# columns; the BOM makes Excel read UTF-8.
SEPARATORS = {"semicolon": ";", "comma": ","}


async def findings_csv(request: web.Request) -> web.Response:
    period = Period.parse(request.query)
    sep = request.query.get("sep") or "semicolon"
    delimiter = SEPARATORS[params.choice("sep", sep, SEPARATORS)]
    console = state(request)
    wanted = period.selection(EXPORTED, findings=True)
    report = await build_quality_report(console.pool, wanted, request.app[WEEKS])
    origin = console.settings.console_public_origin or f"{request.scheme}://{request.host}"
    return web.Response(
        body=("\ufeff" + render_csv(report, delimiter, origin.rstrip("/"))).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="findings-{period.days}d.csv"',
            "Cache-Control": "no-store",
        },
    )
