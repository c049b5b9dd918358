"""The findings report: the weekly chart's numbers, the rates per 100 interventions, drill-down
links that keep the period and open exactly the requests counted, "30 of N", the CSV's rows."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from worker.ops.quality import Selection, build_quality_report
from worker.ops.rates import ClosedWeeks

pytestmark = pytest.mark.services


def _bar(page: str, oc: str) -> dict[str, str]:
    """The data attributes of the OC's latest bar (this week's)."""
    after = page.split(f'<g class="oc-row" data-oc="{oc}">', 1)[1]
    part = after.split('<g class="oc-row"', maxsplit=1)[0]
    bars = re.findall(r'<g class="bar" ([^>]*)>', part)
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', bars[-1]))


async def _finished(db: asyncpg.Pool, code_oc: str, count: int) -> list[seed.Seeded]:
    return [await seed.request(db, code_oc=code_oc) for _ in range(count)]


async def test_chart_and_table_give_flagged_requests_per_100_interventions(
    console: Console, db: asyncpg.Pool
) -> None:
    small = await _finished(db, "OCAA", 4)
    big = await _finished(db, "OCBB", 20)
    await seed.request(db, code_oc="OCBB", status="pending")  # not finished: not counted
    await seed.finding(db, small[0], "reused_photo", "suspect")
    await seed.finding(db, small[0], "low_quality", "info")  # same request: counted once
    await seed.finding(db, small[1], "unpaired", "warning")
    await seed.finding(db, big[0], "reused_photo", "suspect", code_oc="OCBB")
    await seed.finding(db, big[1], "low_quality", "info", code_oc="OCBB")

    page = (await console.get("/findings?days=7")).text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>")[0], "the CSP: no inline style"
    small_bar, big_bar = _bar(page, "OCAA"), _bar(page, "OCBB")
    assert small_bar | {"week": ""} == {
        "week": "",
        "requests": "2",
        "findings": "3",
        "finished": "4",
        "rate": "50.00",
        "suspect": "1",
        "warning": "1",
    }
    assert big_bar["requests"] == "2"
    assert big_bar["finished"] == "20"
    assert big_bar["rate"] == "10.00", "the bigger OC has as many flagged, a fifth of the rate"
    assert (big_bar["suspect"], big_bar["info"]) == ("1", "1")
    for legend in ("suspect (solid)", "warning (hatched)", "info (dotted)"):
        assert legend in page, "severity by pattern and text, not colour alone"
    table = re.search(r'id="finding-counts">(.*?)</table>', page, re.S)
    assert table
    total = re.search(r'id="flagged-total">(.*?)</tr>', table.group(1), re.S)
    assert total
    cells = re.findall(
        r'<td class="num">(\d+)<br><small class="rate">([^<]*)</small>', total.group(1)
    )
    assert cells == [("2", "50.0 / 100"), ("2", "10.0 / 100"), ("4", "16.7 / 100")]


async def test_drill_down_keeps_the_period_and_lists_the_requests_it_counted(
    console: Console, db: asyncpg.Pool
) -> None:
    twice = await seed.request(db, reference="TWICE")
    once = await seed.request(db, reference="ONCE")
    old = await seed.request(db, reference="OLD")
    other_oc = await seed.request(db, reference="OTHER", code_oc="OCBB")
    await seed.finding(db, twice, "low_quality", "info")
    await seed.finding(db, twice, "low_quality", "warning")  # two findings, one request
    await seed.finding(db, once, "low_quality", "info")
    await seed.finding(
        db, old, "low_quality", "suspect", created_at=datetime.now(UTC) - timedelta(days=20)
    )
    await seed.finding(db, other_oc, "low_quality", "info", code_oc="OCBB")

    page = (await console.get("/findings?days=7")).text
    cell = re.search(r'<td class="num"><a href="([^"]+)">(\d+)</a>', page)
    assert cell
    link, count = html.unescape(cell.group(1)), int(cell.group(2))
    assert count == 2, "requests, not findings (3)"
    assert "kind=low_quality" in link
    assert "oc=OCAA" in link
    flagged_from = re.search(r"flagged_from=([0-9T:Z-]+)", link)
    assert flagged_from, "the period is kept"
    start = datetime.fromisoformat(flagged_from.group(1).replace("Z", "+00:00"))
    assert abs(start - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=2)
    listed = await console.get(link)
    assert listed.status == 200
    rows = re.findall(r'href="/requests/([0-9a-f-]{36})"', listed.text)
    assert sorted(set(rows)) == sorted([str(twice.message_id), str(once.message_id)])
    assert len(set(rows)) == count, "the list shows what the cell counted"
    assert 'name="flagged_from"' in listed.text, "kept when the list is filtered again"

    month = (await console.get("/findings?days=30")).text
    month_cell = re.search(r'<td class="num"><a href="([^"]+)">(\d+)</a>', month)
    assert month_cell
    assert month_cell.group(2) == "3"
    month_list = await console.get(html.unescape(month_cell.group(1)))
    assert str(old.message_id) in month_list.text
    kind_row = re.search(r'<th><a href="([^"]+)"><code>low_quality</code>', page)
    assert kind_row
    every_oc = await console.get(html.unescape(kind_row.group(1)))
    assert str(other_oc.message_id) in every_oc.text
    assert str(old.message_id) not in every_oc.text


async def test_worst_requests_say_30_of_n(console: Console, db: asyncpg.Pool) -> None:
    for number in range(32):
        flagged = await seed.request(db, reference=f"N-{number}")
        await seed.finding(db, flagged, "unpaired", "warning")
    page = (await console.get("/findings?days=7")).text
    heading = re.search(r'<h2 id="worst-heading">(.*?)</h2>', page)
    assert heading
    assert heading.group(1) == "Worst requests first: 30 of 32 flagged"
    rows = re.search(r'<table id="worst">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert rows
    assert len(re.findall(r"<tr>", rows.group(1))) == 30


async def test_csv_has_a_row_per_finding_with_detail_photos_and_link(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_public_origin="https://console.oi.example")
    flagged = await seed.request(db, reference="CSV-1")
    photos = [await seed.photo(db, console.photos, flagged, t) for t in ("PBO_AVANT", "PBO_APRES")]
    await seed.finding(db, flagged, "same_before_after", "suspect", photo_ids=photos, detail="same")
    await seed.finding(db, flagged, "low_quality", "info", photo_ids=photos[:1], detail="dark")
    page = await console.get("/findings.csv?days=7")
    rows = list(csv.DictReader(io.StringIO(page.text.removeprefix("\ufeff")), delimiter=";"))
    assert [(r["kind"], r["severity"], r["detail"]) for r in rows] == [
        ("same_before_after", "suspect", "same"),
        ("low_quality", "info", "dark"),
    ]
    assert rows[0]["photo_ids"] == f"{photos[0]} {photos[1]}"
    assert rows[1]["photo_ids"] == str(photos[0])
    assert {r["link"] for r in rows} == {
        f"https://console.oi.example/requests/{flagged.message_id}#findings"
    }
    assert all(r["reference"] == "CSV-1" and r["suspect"] == "1" for r in rows)


async def test_csv_links_to_the_host_asked_without_a_public_origin(
    console: Console, db: asyncpg.Pool
) -> None:
    flagged = await seed.request(db)
    await seed.finding(db, flagged, "unpaired", "warning")
    page = await console.get("/findings.csv?days=1&sep=comma")
    [row] = list(csv.DictReader(io.StringIO(page.text.removeprefix("\ufeff"))))
    assert row["link"] == f"{console.url}requests/{flagged.message_id}#findings"


async def test_ended_weeks_are_counted_once_then_kept(db: asyncpg.Pool) -> None:
    """The console keeps the finished requests of ended weeks; a new view counts only the
    period's first and current weeks."""
    three_weeks_ago = datetime.now(UTC) - timedelta(days=21)
    await seed.request(db, received_at=three_weeks_ago)
    flagged = await seed.request(db)
    await seed.finding(db, flagged, "unpaired", "warning")
    kept = ClosedWeeks(600)
    wanted = Selection(timedelta(days=30))
    first = await build_quality_report(db, wanted, kept)
    assert first.rates.finished == {"OCAA": 2, "all": 2}
    await seed.request(db, received_at=three_weeks_ago + timedelta(hours=1))
    await seed.request(db)  # this week: counted again on every view
    again = await build_quality_report(db, wanted, kept)
    assert again.rates.finished == {"OCAA": 3, "all": 3}, "the ended week is kept"
    fresh = await build_quality_report(db, wanted)
    assert fresh.rates.finished == {"OCAA": 4, "all": 4}
