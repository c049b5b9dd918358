"""The findings report in a real Chromium at 1280x800: the chart drawn under the strict CSP,
and the screenshot the docs show (docs/images/findings-report.png is a copy of
tmp/artefacts/console/findings-report.png)."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import async_playwright

from tests.console.conftest import Console
from tests.console.test_browser import ARTEFACTS, _problems, chromium

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture

# Three OCs of unequal size over five weeks; a finding on one request in 6 to 25 (by OC and
# week), its severity by request.
_REQUESTS = """
INSERT INTO photo_requests (message_id, code_oc, reference_commande_sous_traitant_oi, status,
    attempts, received_at, completed_at)
SELECT gen_random_uuid(), oc, 'INT-' || oc || '-' || g, 'completed', 1,
    now() - make_interval(hours => g * 27 % 720 + 1), now() - make_interval(hours => g * 27 % 720)
FROM unnest(ARRAY['OCAA', 'OCBB', 'OCCC'], ARRAY[600, 240, 90]) AS s(oc, n)
CROSS JOIN LATERAL generate_series(1, n) AS g
"""
_FINDINGS = """
INSERT INTO photo_findings (message_id, code_oc, kind, severity, detail, created_at)
SELECT message_id, code_oc,
    (ARRAY['reused_photo', 'date_out_of_window', 'low_quality', 'unpaired'])[1 + n % 4],
    (ARRAY['suspect', 'warning', 'info', 'info', 'warning'])[1 + n % 5], 'seeded', completed_at
FROM (SELECT *, row_number() OVER (ORDER BY received_at) AS n FROM photo_requests) r
WHERE n % (CASE code_oc WHEN 'OCAA' THEN 25 WHEN 'OCBB' THEN 9 ELSE 6 END
    + extract(week FROM completed_at)::int % 4) = 0
"""


async def test_findings_report_at_1280x800(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    await db.execute(_REQUESTS)
    await db.execute(_FINDINGS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        try:
            await page.goto(f"{console.url}findings?days=30")
            chart = page.locator("#findings-chart svg")
            await chart.wait_for()
            box = await chart.bounding_box()
            assert box is not None
            assert box["width"] > 900, "the chart fills the page's width"
            assert await page.locator("#findings-chart .oc-row").count() == 3
            assert await page.locator("#findings-chart .oc-row[data-oc=OCAA] .bar").count() >= 5
            suspect = page.locator("#findings-chart rect[fill='#b3261e']")
            hatched = page.locator("#findings-chart rect[fill='url(#sev-warning)']")
            assert await suspect.count() > 1
            assert await hatched.count() > 1
            assert _problems(messages) == [], "nothing refused by the CSP"
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTEFACTS / "findings-report.png"))

            cell = page.locator("#finding-counts td a").first
            counted = int(await cell.inner_text())
            await cell.click()
            await page.wait_for_url("**/requests?*flagged_from=*")
            assert "flagged since" in await page.locator("h1").inner_text()
            listed = page.locator("#requests tbody tr")
            assert await listed.count() == min(counted, 50), "the list shows what was counted"
            await page.screenshot(path=str(ARTEFACTS / "findings-drill-down.png"))
            assert _problems(messages) == []
        finally:
            await context.close()
            await browser.close()
