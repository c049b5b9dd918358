"""The findings page's chart, drawn on the server: one row per OC, one bar per week, its height
the requests flagged per 100 interventions, stacked by worst severity. The template turns these
shapes into an inline SVG (presentation attributes only: the CSP allows no inline style), the
severities told apart by pattern and legend, not by colour alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from worker.ops.rates import Rates, mondays, per_hundred

STACK = ("suspect", "warning", "info")  # bottom up
WIDTH = 960
LABEL = 170  # the OC's label, left of its bars
ROW = 84  # per OC
BAR = 52  # the tallest bar
AXIS = 22  # the weeks' labels
TOP = 16


@dataclass(frozen=True)
class Segment:
    severity: str
    y: float
    height: float
    requests: int


@dataclass
class Bar:
    x: float
    width: float
    week: datetime
    requests: int = 0
    findings: int = 0
    finished: int = 0
    rate: float | None = None
    top: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    by_severity: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    oc: str
    y: float  # the baseline of its bars
    bars: list[Bar]
    requests: int
    finished: int
    rate: float | None


@dataclass(frozen=True)
class Week:
    start: datetime
    x: float  # the middle of its bars


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rows: list[Row]
    weeks: list[Week]
    scale: float  # the rate a full bar stands for
    bar_height: int = BAR


def draw(rates: Rates, flagged: dict[str, int], first: datetime, last: datetime) -> Chart:
    weeks = mondays(first, last)
    ocs = sorted(set(flagged) - {"all"})
    slot = (WIDTH - LABEL - 10) / max(len(weeks), 1)
    width = min(44.0, slot * 0.7)
    bars = {
        (oc, week): Bar(LABEL + slot * i + (slot - width) / 2, width, week)
        for oc in ocs
        for i, week in enumerate(weeks)
    }
    for row in rates.weeks:
        bar = bars.get((row["code_oc"], row["week"]))
        if bar:
            bar.by_severity[row["worst"]] = row["requests"]
            bar.requests += row["requests"]
            bar.findings += row["findings"]
    for row in rates.finished_weeks:
        if (row["code_oc"], row["week"]) in bars:
            bars[(row["code_oc"], row["week"])].finished = row["finished"]
    for bar in bars.values():
        bar.rate = per_hundred(bar.requests, bar.finished)
    scale = max([bar.rate or 0.0 for bar in bars.values()] + [1.0])
    rows = []
    for index, oc in enumerate(ocs):
        base = TOP + ROW * (index + 1) - 24
        row_bars = [bars[(oc, week)] for week in weeks]
        for bar in row_bars:
            _stack(bar, base, scale)
        finished = rates.finished.get(oc, 0)
        rows.append(
            Row(oc, base, row_bars, flagged[oc], finished, per_hundred(flagged[oc], finished))
        )
    axis = [Week(week, LABEL + slot * (i + 0.5)) for i, week in enumerate(weeks)]
    return Chart(WIDTH, TOP + ROW * len(ocs) + AXIS, rows, axis, scale)


def _stack(bar: Bar, base: float, scale: float) -> None:
    """The bar's segments from its baseline up; without finished requests, no height."""
    y = base
    for severity in STACK:
        requests = bar.by_severity.get(severity, 0)
        if not requests or not bar.finished:
            continue
        height = BAR * (100 * requests / bar.finished) / scale
        y -= height
        bar.segments.append(Segment(severity, y, height, requests))
    bar.top = y
