"""A French browser gets the console in French, times in Paris time with the UTC one on hover."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console
from tests.console.test_browser import _problems, browse, chromium

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture


async def test_a_french_browser_reads_a_french_page_with_utc_on_hover(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    received = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    seeded = await seed.request(db, reference="INT-NAVIGATEUR", received_at=received)
    await seed.finding(db, seeded, "same_before_after", "suspect")
    async with browse(chromium, "request-fr", locale="fr-FR") as (page, messages):
        await page.goto(f"{console.url}requests/{seeded.message_id}")
        assert await page.get_attribute("html", "lang") == "fr"
        assert await page.locator("nav a[href='/queue']").inner_text() == "File de revue"
        assert (await page.locator("#findings h2").inner_text()).startswith("Constats")
        received_at = page.locator("dl.facts time[datetime='2026-01-15T12:00:00Z']").first
        assert await received_at.inner_text() == "2026-01-15 13:00:00 CET"
        assert await received_at.get_attribute("title") == "2026-01-15 12:00:00 UTC"
        await page.locator("summary").click()
        assert await page.locator("#legend dd").first.is_visible()
        assert _problems(messages) == []
