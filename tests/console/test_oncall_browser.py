"""The on-call view in a real Chromium: a stopped worker turns the banner red, and a console
that goes away turns the page "disconnected" instead of showing old figures as if live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.console.test_browser import _problems, browse, chromium
from tests.harness import StartWorker, make_settings
from tests.services import wait_until
from worker.console.app import serve_console

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture


async def test_a_stopped_worker_turns_the_banner_red(
    chromium: str,
    start_worker: StartWorker,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
) -> None:
    worker = await start_worker({"heartbeat_seconds": 1})
    settings = make_settings(
        database_url,
        amqp_url,
        tmp_path,
        console_port=0,
        console_refresh_seconds=1,
        heartbeat_seconds=1,
        console_thumbnail_dir=tmp_path / "thumbnails",
    )
    stop, urls = asyncio.Event(), []
    console = asyncio.create_task(serve_console(settings, stop, urls.append))
    try:
        await wait_until(lambda: _served(urls, console), 20, "the console to serve")
        async with browse(chromium, "oncall") as (page, messages):
            await page.goto(urls[0] + "on-call")
            await page.wait_for_selector("#health.health-ok", timeout=20_000)
            assert worker.settings.instance in await page.locator("table.workers").inner_text()
            await worker.stop()
            # Well within the minute the on-call engineer is promised.
            await page.wait_for_selector("#health.health-bad", timeout=30_000)
            assert "no live worker" in await page.locator("#health").inner_text()
            assert await page.locator("#disconnected").is_hidden()
            assert _problems(messages) == []
            stop.set()
            await asyncio.wait_for(console, 10)
            # The failed refreshes are logged by the browser and htmx: that is the point.
            await page.wait_for_selector("#disconnected", state="visible", timeout=15_000)
    finally:
        stop.set()
        await asyncio.wait_for(console, 10)


async def _served(urls: list[str], task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
    return bool(urls)
