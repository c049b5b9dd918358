"""The console in a real Chromium (Debian's package, driven by Playwright over CDP).

One browser for the whole session (started on first use); each test opens its own context.
Screenshots go to `tmp/artefacts/console/` at the top of the checkout. A missing Chromium is a
failure, never a skip: CI installs it (`.ci/run`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright

from tests.console import seed
from tests.console.conftest import Console, StartConsole

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "tmp" / "artefacts" / "console"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every *.test name is this machine: pages of "other sites" (rebinding, cross-origin images).
    "--host-resolver-rules=MAP *.test 127.0.0.1",
)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless Chromium for the session; yields its DevTools URL."""
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.access(binary, os.X_OK), "Chromium is missing: apt-get install chromium (.ci/run)"
    profile = tmp_path_factory.mktemp("chromium-profile")  # a new, empty profile
    # setpriv: Chromium gets SIGTERM if the session dies without its teardown (a killed run).
    command = ["setpriv", "--pdeathsig", "TERM", binary, *CHROMIUM_FLAGS]
    process = subprocess.Popen(
        [*command, f"--user-data-dir={profile}", "--remote-debugging-port=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{_devtools_port(profile, process)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose into the profile once it listens."""
    deadline = time.monotonic() + 30
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        assert process.poll() is None, "Chromium exited at start-up"
        if marker.exists() and (lines := marker.read_text().splitlines()):
            return int(lines[0])
        time.sleep(0.05)
    raise AssertionError("Chromium did not open its DevTools port in 30 s")


@asynccontextmanager
async def browse(chromium: str, name: str, **options: Any) -> AsyncIterator[tuple[Page, list[str]]]:
    """A page in a fresh context (`options`: the context's), the console messages it logged, a
    screenshot at the end."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        context = await browser.new_context(viewport={"width": 1400, "height": 900}, **options)
        page = await context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        try:
            yield page, messages
        finally:
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
            await context.close()
            await browser.close()


def _problems(messages: list[str]) -> list[str]:
    """Errors and warnings the page logged: a CSP violation would be one."""
    return [m for m in messages if m.startswith(("error", "warning", "pageerror"))]


async def test_overview_refreshes_in_place(
    chromium: str, start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_refresh_seconds=1)
    await seed.request(db, status="completed")
    async with browse(chromium, "overview") as (page, messages):
        await page.goto(console.url)
        await page.wait_for_selector("#live")
        await page.evaluate("window.notReloaded = true")
        first = await page.locator("#live .muted").first.inner_text()
        await seed.request(db, status="pending", reference="WAITING-1")
        await page.wait_for_selector("#live a:has-text('WAITING-1')", timeout=10_000)
        assert await page.evaluate("window.notReloaded") is True, "swapped in place, no reload"
        assert await page.locator("#live .muted").first.inner_text() != first
        assert _problems(messages) == []


async def test_search_by_reference_from_the_header(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    wanted = await seed.request(db, reference="INT-7731", order="CMD-1")
    await seed.request(db, reference="INT-8000")
    async with browse(chromium, "search") as (page, messages):
        await page.goto(console.url)
        await page.fill("header input[name=q]", "INT-77")
        await page.press("header input[name=q]", "Enter")
        await page.wait_for_url("**/requests?q=INT-77")
        links = page.locator("#requests tbody a[href^='/requests/']")
        assert await links.count() == 1
        await links.first.click()
        await page.wait_for_url(f"**/requests/{wanted.message_id}")
        assert "INT-7731" in await page.locator("h1").inner_text()
        assert _problems(messages) == []


async def test_request_page_shows_every_thumbnail(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db, reference="INT-PHOTOS", attempts=2)
    await seed.attempt(db, seeded, 1, 202, "retry:not_ready")
    await seed.attempt(db, seeded, 2, 200, "completed")
    before = await seed.photo(
        db, console.photos, seeded, "PBO_AVANT", data=seed.image_bytes((1600, 1200), colour="navy")
    )
    after = await seed.photo(
        db,
        console.photos,
        seeded,
        "PBO_APRES",
        mime="image/png",
        data=seed.image_bytes((900, 1200), "PNG", colour="orange"),
    )
    await seed.photo(db, console.photos, seeded, "PTO")
    await seed.finding(db, seeded, "same_before_after", "suspect", photo_ids=[before, after])
    async with browse(chromium, "request") as (page, messages):
        await page.goto(f"{console.url}requests/{seeded.message_id}")
        await page.wait_for_load_state("networkidle")
        widths = await page.eval_on_selector_all(
            "img.thumb", "images => images.map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert len(widths) == 3
        assert all(width > 0 for width in widths), widths
        pair = page.locator(".pair")
        assert await pair.locator(".side").nth(0).locator(f"#photo-{before}").count() == 1
        assert await pair.locator(".side").nth(1).locator(f"#photo-{after}").count() == 1
        assert _problems(messages) == []


async def test_refetch_from_the_request_page(
    chromium: str, start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True)
    failed = await seed.request(db, status="failed", reference="INT-AGAIN")
    async with browse(chromium, "refetch") as (page, messages):
        await page.goto(f"{console.url}requests/{failed.message_id}")
        await page.click("#refetch")
        await page.wait_for_selector(".notice")
        assert await page.locator(".notice").inner_text() == "Refetch: due now."
        assert "pending" in await page.locator("h1 .status").inner_text()
        assert _problems(messages) == []
    assert await db.fetchval("SELECT status FROM photo_requests") == "pending"


async def test_a_rebound_host_name_gets_nothing_even_with_the_password(
    chromium: str, start_console: StartConsole
) -> None:
    """DNS rebinding: a page of rebound.test whose name now points at the console, in a browser
    that knows the password (Chromium answers the console's challenge with it)."""
    console = await start_console(console_password="s3cret-console", console_actions=True)
    port = console.url.rstrip("/").rsplit(":", 1)[1]
    credentials = {"username": "alice", "password": "s3cret-console"}
    async with browse(chromium, "rebinding", http_credentials=credentials) as (page, _):
        own = await page.goto(f"http://localhost:{port}/")
        assert own is not None
        assert own.status == 200, "the password works on the console's name"
        rebound = await page.goto(f"http://rebound.test:{port}/")
        assert rebound is not None
        assert rebound.status == 421
        # What the rebinding page's script would read: no page, no form token.
        status, text = await page.evaluate(
            "fetch('/requests').then(async r => [r.status, await r.text()])"
        )
        assert status == 421
        assert "csrf" not in text


async def test_a_page_of_another_site_cannot_make_the_console_decode(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    """An `<img>` of a thumbnail on another site's page: refused before any decode."""
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PTO")
    thumb = f"{console.url}photos/OCAA/{photo_id}/thumb"
    html = f'<html><body><img id="t" src="{thumb}"></body></html>'

    async def attacker_page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", attacker_page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with browse(chromium, "cross-site-img") as (page, _):
            await page.goto(f"http://attacker.test:{port}/")
            await page.wait_for_function("document.getElementById('t').complete")
            assert await page.eval_on_selector("#t", "i => i.naturalWidth") == 0
    finally:
        await runner.cleanup()
    assert not list(console.settings.console_thumbnail_dir.rglob("*.*")), "nothing decoded"
    metrics = (await console.get("/metrics")).text
    assert 'worker_console_refusals_total{reason="cross_site"} 1.0' in metrics
