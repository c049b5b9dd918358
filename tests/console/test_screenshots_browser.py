"""The docs' screenshots of the viewer, the review queue, the findings report and the on-call
view, at 1280x800 and 1920x1080, in a real Chromium (see test_browser.py).

They go to tmp/artefacts/console/ like every browser test's; to write them into docs/images/ as
well (docs/console.md links them):

    CONSOLE_DOCS_IMAGES=1 .venv/bin/pytest tests/console/test_screenshots_browser.py

Each shot checks what a reader would see broken first: nothing wider than the window, and the
page's heading and main content on the first screen.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid

import asyncpg
import pytest
from playwright.async_api import Page

from tests.console import access, seed, viewer_seed
from tests.console.conftest import Console
from tests.console.test_browser import ARTEFACTS, ROOT, _problems, browse, chromium
from tests.console.test_report_browser import _FINDINGS, _REQUESTS
from tests.console.test_viewer_browser import _loaded
from tests.services import wait_until

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture
SIZES = ((1280, 800), (1920, 1080))
DOCS_IMAGES = ROOT / "docs" / "images"


async def _shoot(page: Page, name: str, main: str) -> None:
    """At each size: the window's width holds the page, `main` starts on the first screen."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate("window.dispatchEvent(new Event('resize')); window.scrollTo(0, 0)")
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (name, width, scroll_width)
        box = await page.locator(main).first.bounding_box()
        assert box is not None, (name, main)
        assert box["y"] < height, (name, width, box)
        assert box["x"] + min(box["width"], width) <= width, (name, width, box)
        shot = ARTEFACTS / f"{name}-{width}x{height}.png"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot))
        if os.environ.get("CONSOLE_DOCS_IMAGES"):
            shutil.copyfile(shot, DOCS_IMAGES / shot.name)


async def _seed_desk(db: asyncpg.Pool) -> None:
    """Suspect findings on requests of three OCs, some judged: a queue worth a screenshot."""
    kinds = ("reused_photo", "same_before_after", "location_far", "date_out_of_window")
    for n in range(14):
        oc = ("OCAA", "OCBB", "OCCC")[n % 3]
        request = await seed.request(db, code_oc=oc, reference=f"INT-{oc}-{7_340 + n * 17}")
        for k in range(1 + n % 3):
            await seed.finding(
                db, request, kinds[(n + k) % 4], "suspect", code_oc=oc, photo_ids=[uuid.uuid4()]
            )
    await db.execute(
        "INSERT INTO finding_verdicts (message_id, kind, photo_ids, code_oc, verdict, decided_by)"
        " SELECT message_id, kind, photo_ids, code_oc,"
        " CASE WHEN id % 3 = 0 THEN 'false_alarm' ELSE 'confirmed' END, 'analyst'"
        " FROM photo_findings WHERE severity = 'suspect' AND id % 4 = 0"
    )


async def test_screenshots_of_the_docs(chromium: str, console: Console, db: asyncpg.Pool) -> None:
    pair = await viewer_seed.pair(console, db)
    await access.seed_console(db, console)
    await db.execute(_REQUESTS)
    await db.execute(_FINDINGS)
    await _seed_desk(db)
    async with browse(chromium, "docs-screenshots") as (page, messages):
        await page.goto(f"{console.url}requests/{pair.message_id}")
        await page.click("a.compare-pair")
        await page.wait_for_url(re.compile(r"/compare\?left=OCAA/.+&right=OCAA/"))
        await _loaded(page)
        await _shoot(page, "viewer", "#pane-right")

        await page.goto(f"{console.url}queue")
        await _shoot(page, "review-queue", "#queue tbody tr")

        await page.goto(f"{console.url}findings?days=30")
        await page.locator("#findings-chart svg").wait_for()
        await _shoot(page, "findings-report", "#findings-chart")

        await access.beat(db)
        await page.goto(f"{console.url}on-call")
        await page.wait_for_selector("#health")

        async def overdue_listed() -> bool:
            return "INT-ACCESS-LATE" in await page.locator("#live").inner_text()

        await wait_until(overdue_listed, 10, "the overdue request on the on-call view")
        await _shoot(page, "on-call", "table.workers")
        assert _problems(messages) == []
