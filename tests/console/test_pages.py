"""The console's pages over HTTP, on rows written as the worker and the photo checks write them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console
from tests.harness import partners_toml
from tests.services import wait_until

pytestmark = pytest.mark.services


def _links_to_requests(html: str) -> list[str]:
    return re.findall(r'href="/requests/([0-9a-f-]{36})"', html)


async def test_overview_counts_oldest_pending_dead_letters_and_unsent_events(
    console: Console, db: asyncpg.Pool
) -> None:
    now = datetime.now(UTC)
    old = await seed.request(db, status="pending", received_at=now - timedelta(hours=3))
    await seed.request(db, status="pending", code_oc="OCBB")
    done = await seed.request(db, status="completed")
    await seed.photo(db, console.photos, done, "PTO")
    await seed.request(db, status="failed")
    await seed.event(db, done, sent=False)
    await seed.dead_letter(db, "unknown_oc")

    page = await console.get("/")
    assert page.status == 200
    counts = re.search(r"<table class=\"counts\">.*?</table>", page.text, re.S)
    assert counts
    rows = re.findall(r"<tr><th><a [^>]*>(\w+)</a></th>(.*?)</tr>", counts.group(0), re.S)
    cells = {oc: re.findall(r">(\d+)<", row) for oc, row in rows}
    assert cells == {"OCAA": ["1", "1", "0", "0", "1"], "OCBB": ["1", "0", "0", "0", "0"]}
    assert f'href="/requests/{old.message_id}"' in page.text  # the oldest pending one
    assert re.search(r'<span class="figure">1</span> dead letters waiting', page.text)
    assert re.search(r'<span class="figure">1</span> result events not yet published', page.text)
    assert re.search(r'<span class="figure">1</span> photos stored in the last hour', page.text)
    assert re.search(r'<span class="figure">2</span> finished in the last hour', page.text)


async def test_overview_shows_the_partners_limits(console: Console, db: asyncpg.Pool) -> None:
    assert "Partner limits" not in (await console.get("/")).text  # nothing held, no file
    await db.execute(
        "INSERT INTO partner_limits (code_oc, breaker_until)"
        " VALUES ('OCBB', now() + interval '1 minute')"
    )
    await wait_until(lambda: _shown(console, "Partner limits"), timeout=10, what="a refresh")
    # Without the partners file: the open breakers, which the shared rows tell alone.
    assert "OCBB" in (await console.get("/overview")).text
    console.settings.partners_file.write_text(
        partners_toml(
            "http://oc.example",
            OCAA={"quota": {"calls": 100, "timezone": "UTC"}, "breaker": {"failures": 3}},
        ),
        encoding="utf-8",
    )
    await db.execute(
        "INSERT INTO partner_limits (code_oc, quota_day, quota_used, breaker_until)"
        " VALUES ('OCAA', (now() AT TIME ZONE 'UTC')::date, 100, now() + interval '1 minute')"
    )
    await wait_until(lambda: _shown(console, "100 of 100"), timeout=10, what="the next refresh")
    text = (await console.get("/overview")).text
    assert "held (quota)</span> until" in text
    assert "100 of 100" in text
    assert "open until" in text


async def _shown(console: Console, text: str) -> bool:
    return text in (await console.get("/overview")).text


async def test_overview_panel_refreshes_itself_in_place(console: Console) -> None:
    panel = await console.get("/overview")
    assert panel.status == 200
    assert "<html" not in panel.text, "a fragment, swapped into the page"
    assert 'hx-get="/overview"' in panel.text
    assert 'hx-trigger="every 1s"' in panel.text
    assert 'hx-swap="morph:outerHTML"' in panel.text  # in place, keeping the focus


async def test_requests_newest_first_with_filters(console: Console, db: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    a = await seed.request(
        db, code_oc="OCAA", status="completed", received_at=now - timedelta(days=3)
    )
    b = await seed.request(db, code_oc="OCBB", status="failed", received_at=now - timedelta(days=2))
    c = await seed.request(
        db, code_oc="OCAA", status="pending", received_at=now - timedelta(days=1)
    )
    await seed.finding(db, b, "reused_photo", "suspect", code_oc="OCBB")

    async def ids(query: str) -> list[str]:
        page = await console.get(f"/requests{query}")
        assert page.status == 200, page.text
        return _links_to_requests(page.text)

    every = [str(r.message_id) for r in (c, b, a)]
    assert await ids("") == every
    assert await ids("?oc=OCAA") == [str(c.message_id), str(a.message_id)]
    assert await ids("?status=failed") == [str(b.message_id)]
    assert await ids("?status=pending&oc=ocaa") == [str(c.message_id)]
    # Days are the console's zone's (Europe/Paris by default), as its times.
    day = (now - timedelta(days=2)).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    assert await ids(f"?from={day}&to={day}") == [str(b.message_id)]
    assert await ids("?kind=reused_photo") == [str(b.message_id)]
    assert await ids("?kind=reused_photo&oc=OCAA") == []


async def test_keyset_pages_visit_every_request_once_in_order(
    console: Console, db: asyncpg.Pool
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(120):
        # Two by two at the same instant: the cursor's messageId breaks the ties.
        status = ("completed", "pending", "failed")[i % 3]
        await seed.request(db, status=status, received_at=start + timedelta(seconds=i // 2))
    rows = await db.fetch(
        "SELECT message_id FROM photo_requests ORDER BY received_at DESC, message_id DESC"
    )
    expected = [str(row["message_id"]) for row in rows]
    seen: list[str] = []
    path = "/requests"
    while path:
        page = await console.get(path)
        assert page.status == 200
        seen += _links_to_requests(page.text)
        found = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == expected
    assert len(seen) == 120


async def test_search_by_message_id_and_by_reference_exact_first_then_prefix(
    console: Console, db: asyncpg.Pool
) -> None:
    exact = await seed.request(db, reference="INT-42")
    longer = await seed.request(db, reference="INT-420")
    other = await seed.request(db, reference="INT-5", order="INT-4299")
    by_access = await seed.request(db, reference="X-1", access="ACC-77")

    async def ids(q: str) -> list[str]:
        page = await console.get("/requests", params={"q": q})
        assert page.status == 200
        return _links_to_requests(page.text)

    opened = await console.get(
        "/requests", params={"q": str(longer.message_id)}, allow_redirects=False
    )
    assert opened.status == 303  # an exact match opens the request
    assert opened.headers["Location"] == f"/requests/{longer.message_id}"
    assert await ids("INT-42") == [str(r.message_id) for r in (exact, longer, other)]
    assert await ids("INT-42*") == [str(r.message_id) for r in (exact, longer, other)]
    assert await ids("INT-429") == [str(other.message_id)]  # its order reference
    assert await ids("ACC-7") == [str(by_access.message_id)]
    assert await ids("nothing-like-it") == []


async def test_search_finds_a_reference_whatever_the_case_typed(
    console: Console, db: asyncpg.Pool
) -> None:
    upper = await seed.request(db, reference="INT-CASE-7", order="CMD-AbC-9", access="ACC-XY-3")
    lower = await seed.request(db, reference="int-case-70")

    async def ids(q: str) -> list[str]:
        page = await console.get("/requests", params={"q": q})
        assert page.status == 200
        return _links_to_requests(page.text)

    both = [str(upper.message_id), str(lower.message_id)]
    assert await ids("int-case-7") == both  # the exact one first, then the longer
    assert await ids("INT-CASE-7") == both
    assert await ids("iNt-CaSe-70") == [str(lower.message_id)]
    assert await ids("cmd-abc") == [str(upper.message_id)]  # the order reference
    assert await ids("acc-xy-3") == [str(upper.message_id)]  # referencePrestationPrise
    assert await ids("int-case-8") == []
    page = await console.get("/requests", params={"q": "cmd-abc"})
    assert "CMD-AbC-9" in page.text  # shown as stored
    for typed in (str(upper.message_id).upper(), f" {upper.message_id} "):
        opened = await console.get("/requests", params={"q": typed}, allow_redirects=False)
        assert opened.status == 303, typed  # an exact messageId still opens the request
        assert opened.headers["Location"] == f"/requests/{upper.message_id}"


async def test_a_bad_filter_is_a_clear_400(console: Console) -> None:
    page = await console.get("/requests?status=lost&oc=ABCD")
    assert page.status == 400
    assert "status &#39;lost&#39;: one of pending" in page.text
    page = await console.get("/requests?from=yesterday")
    assert page.status == 400
    assert "YYYY-MM-DD" in page.text


async def test_request_page_shows_message_attempts_photos_findings_and_event(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db, reference="INT-PAGE", attempts=2)
    first = await seed.attempt(db, seeded, 1, 503, "retry:transient", error="metadata 503")
    await seed.attempt(db, seeded, 2, 200, "completed")
    before = await seed.photo(db, console.photos, seeded, "PBO_AVANT")
    after = await seed.photo(db, console.photos, seeded, "PBO_APRES", mime="image/png")
    await seed.photo(db, console.photos, seeded, "PTO")
    other = await seed.request(db, reference="INT-OTHER")
    await seed.finding(db, seeded, "same_before_after", "suspect", photo_ids=[before, after])
    await seed.finding(db, seeded, "reused_photo", "warning", related=other.message_id)
    await seed.event(db, seeded)

    page = await console.get(f"/requests/{seeded.message_id}")
    assert page.status == 200
    html = page.text
    assert "INT-PAGE" in html
    assert str(first) in html, "the X-Request-Id of each attempt"
    assert "HTTP <strong>503</strong>" in html
    assert "metadata 503" in html
    assert "120 ms" in html
    pair = re.search(
        r"<h3><abbr [^>]*>PBO</abbr>( <a [^>]*>[^<]*</a>)?</h3>\s*"
        r"<div class=\"pair\">(.*?)</section>",
        html,
        re.S,
    )
    assert pair, "PBO_AVANT and PBO_APRES side by side"
    assert pair.group(2).index(str(before)) < pair.group(2).index(str(after))
    assert f'src="/photos/OCAA/{after}/thumb"' in pair.group(2)
    assert f'href="/photos/OCAA/{after}"' in pair.group(2)
    assert '<span class="badge suspect"' in pair.group(2)
    assert f'href="/requests/{other.message_id}"' in html, "the other request of a reused photo"
    assert "&#34;status&#34;: &#34;completed&#34;" in html, "the event, escaped"
    assert "photos.completed" in html


async def test_request_page_of_an_unknown_request_is_404(console: Console) -> None:
    assert (await console.get(f"/requests/{uuid.uuid4()}")).status == 404
    assert (await console.get("/requests/not-a-uuid")).status == 404


async def test_text_from_partners_is_escaped(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db, reference="<script>alert(1)</script>")
    await seed.finding(db, seeded, "qa_error", detail='<img src=x onerror="alert(2)">')
    page = await console.get(f"/requests/{seeded.message_id}")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text


async def test_findings_counts_by_kind_and_oc_worst_first_and_csv(
    console: Console, db: asyncpg.Pool
) -> None:
    mild = await seed.request(db, reference="MILD")
    worst = await seed.request(db, reference="=HYPERLINK(1)", code_oc="OCBB")
    old = await seed.request(db, reference="OLD")
    await seed.finding(db, mild, "low_quality", "info")
    await seed.finding(db, mild, "unpaired", "warning")
    await seed.finding(db, mild, "missing_type", "warning")
    await seed.finding(db, worst, "reused_photo", "suspect", code_oc="OCBB")
    await seed.finding(
        db, old, "low_quality", "suspect", created_at=datetime.now(UTC) - timedelta(days=20)
    )

    page = await console.get("/findings?days=7")
    assert page.status == 200
    table = re.search(r'<table class="counts" id="finding-counts">(.*?)</table>', page.text, re.S)
    assert table
    assert re.findall(r"<th class=\"num\">(\w+)</th>", table.group(1)) == ["OCAA", "OCBB", "all"]
    kinds = re.findall(r"<code>(\w+)</code>", table.group(1))
    assert kinds == ["missing_type", "unpaired", "reused_photo", "low_quality"], "findings.md order"
    assert re.search(
        r"low_quality</code></a>(<br><span class=\"kind-label\">[^<]*</span>)?</th>\s*"
        r"<td class=\"num\"><a [^>]*>1</a>",
        table.group(1),
    )
    worst_rows = re.search(r'<table id="worst">(.*?)</table>', page.text, re.S)
    assert worst_rows
    # One suspect finding outweighs two warnings.
    assert _links_to_requests(worst_rows.group(1)) == [str(worst.message_id), str(mild.message_id)]
    assert str(old.message_id) not in page.text, "flagged before the period"
    assert str(old.message_id) in (await console.get("/findings?days=30")).text

    csv_page = await console.get("/findings.csv?days=30")
    assert csv_page.status == 200
    assert csv_page.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv_page.headers["Content-Disposition"]
    lines = csv_page.text.strip().splitlines()
    assert lines[0].startswith('\ufeff"message_id";"code_oc";"reference";"status"')
    assert len(lines) == 6, "a row per finding: 3 + 1 + 1"
    assert f'"{worst.message_id}";"OCBB";"\'=HYPERLINK(1)";' in csv_page.text, (
        "a formula is made inert"
    )
    only = await console.get("/findings.csv?days=30&oc=OCBB&sep=comma")
    assert len(only.text.strip().splitlines()) == 2
    assert (await console.get("/findings?days=3")).status == 400
    assert (await console.get("/findings?kind=not_a_kind")).status == 400


async def test_dead_letters_with_reason_detail_excerpt_and_replayed_mark(
    console: Console, db: asyncpg.Pool
) -> None:
    waiting = await seed.dead_letter(db, "not_json", body="{broken json")
    replayed = await seed.dead_letter(db, "unknown_oc", message_id=str(uuid.uuid4()))
    await db.execute(
        "UPDATE dead_letters SET replayed_at = now(), replayed_by = 'alice' WHERE id = $1", replayed
    )
    page = await console.get("/dead-letters")
    assert page.status == 200
    row = re.search(rf'<tr id="dead-letter-{waiting}"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row
    assert "not_json" in row.group(1)
    assert "{broken json" in row.group(1)
    assert "waiting" in row.group(1)
    row = re.search(rf'<tr id="dead-letter-{replayed}"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row
    assert "replayed" in row.group(1)
    assert "by alice" in row.group(1)
    only = await console.get("/dead-letters?state=waiting")
    assert f"dead-letter-{waiting}" in only.text
    assert f"dead-letter-{replayed}" not in only.text
    assert (await console.get("/dead-letters?reason=whatever")).status == 400
