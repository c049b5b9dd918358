"""A dead letter replayed from the console in a real Chromium, and its outcome seen there."""

from __future__ import annotations

import time

import asyncpg
import pytest

from tests.console.conftest import StartConsole
from tests.console.test_browser import ARTEFACTS, _problems, browse, chromium
from tests.harness import Broker, InProcessWorker, cr_stoc
from tests.services import wait_until

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture


async def test_replay_a_dead_letter_and_see_it_refused_again(
    chromium: str,
    start_console: StartConsole,
    worker: InProcessWorker,
    broker: Broker,
    db: asyncpg.Pool,
    amqp_url: str,
) -> None:
    body = cr_stoc(code_oc="ZZZZ")
    await broker.publish(body, message_id=body["messageId"])

    async def dead() -> bool:
        return await broker.queue_depth("photos.cr_stoc.dead") == 1

    await wait_until(dead, what="the dead letter")
    record_id = await db.fetchval("SELECT id FROM dead_letters")
    console = await start_console(console_actions=True, amqp_url=amqp_url)
    async with browse(chromium, "dead-letters") as (page, messages):
        await page.goto(f"{console.url}dead-letters")
        row = page.locator(f"#dead-letter-{record_id}")
        assert "still not in the partners file" in await row.inner_text()
        await row.locator("button.replay").click()
        await page.wait_for_selector(".notice")
        assert await page.locator(".notice").inner_text() == (
            "Dead letter sent back to photos.cr_stoc."
        )
        # The page does not refresh on its own: the operator reloads until the outcome shows.
        deadline = time.monotonic() + 20
        while "refused again" not in await row.locator(".outcome").inner_text():
            assert time.monotonic() < deadline, "the replay's outcome never showed"
            await page.wait_for_timeout(100)  # polling, as wait_until does
            await page.reload()
        assert "replayed, refused again: unknown_oc" in await row.inner_text()
        await row.locator(".outcome a[href^='#dead-letter-']").click()
        again = await db.fetchval("SELECT max(id) FROM dead_letters")
        await page.wait_for_url(f"**#dead-letter-{again}")
        assert "waiting" in await page.locator(f"#dead-letter-{again}").inner_text()
        await page.click("#reason-unknown_oc a.bulk")
        await page.wait_for_url("**/dead-letters/replay?reason=unknown_oc")
        assert "Nothing to replay" in await page.locator("main").inner_text()
        assert str(again) in await page.locator("#bulk-left").inner_text()
        assert await page.locator("#bulk-confirm").count() == 0
        await page.screenshot(path=str(ARTEFACTS / "dead-letters-bulk.png"), full_page=True)
        assert _problems(messages) == []
