"""An analyst works through the review queue with the keyboard alone."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console
from tests.console.test_browser import _problems, browse, chromium

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture


async def test_review_a_queue_with_the_keyboard_only(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    worst = await seed.request(db, reference="WORST-REQ")
    for kind in ("reused_photo", "same_before_after"):
        await seed.finding(db, worst, kind, "suspect", photo_ids=[uuid.uuid4()])
    second = await seed.request(db, reference="SECOND-REQ")
    await seed.finding(db, second, "reused_photo", "suspect", photo_ids=[uuid.uuid4()])
    async with browse(chromium, "queue") as (page, messages):
        await page.goto(console.url + "queue")
        await page.focus("#queue-start")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/requests/{worst.message_id}?queue=1*")
        await page.keyboard.press("c")  # the first finding: confirmed
        await page.wait_for_selector(".verdict-given")
        await page.keyboard.press("f")  # the second: a false alarm
        # A locator, not wait_for_function: its string predicate is an eval, which the CSP
        # refuses whenever Playwright runs it in the page's own world (it failed now and then).
        await page.locator(".verdict-given").nth(1).wait_for()
        await page.keyboard.press("n")
        await page.wait_for_url(f"**/requests/{second.message_id}?queue=1*")
        await page.keyboard.press("c")
        await page.wait_for_selector(".verdict-given")
        assert "0 left" in await page.locator(".queue-bar").inner_text()
        assert _problems(messages) == []
    verdicts = await db.fetch(
        "SELECT message_id, kind, verdict FROM finding_verdicts ORDER BY message_id, kind"
    )
    got = {(row["message_id"], row["kind"]): row["verdict"] for row in verdicts}
    assert got == {
        (worst.message_id, "reused_photo"): "confirmed",
        (worst.message_id, "same_before_after"): "false_alarm",
        (second.message_id, "reused_photo"): "confirmed",
    }
