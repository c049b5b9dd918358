"""Accessibility in a real Chromium (see test_browser.py): severity never by colour alone, WCAG AA
contrast on the main pages, a refresh that never moves the keyboard focus, and the requests list
readable on a 1280x800 laptop."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Page

from tests.console import access
from tests.console.conftest import Console
from tests.console.test_browser import _problems, browse, chromium
from tests.services import wait_until

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture


def _pages(ids: dict[str, object]) -> list[str]:
    return [
        "",
        "requests",
        f"requests/{ids['request']}",
        "queue",
        "findings?days=30",
        "on-call",
        "dead-letters",
    ]


async def test_severity_is_never_told_by_colour_alone(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    ids = await access.seed_console(db, console)
    async with browse(chromium, "access-severity") as (page, messages):
        for path in _pages(ids):
            await page.goto(console.url + path)
            badges = await page.locator(".badge").count()
            alone = await page.evaluate(access.SEVERITY_BY_COLOUR_ALONE)
            assert alone == [], (path, alone)
            if path.startswith(("requests", "findings")):
                assert badges > 0, path  # the check looked at something
        assert _problems(messages) == []


async def test_text_contrast_is_wcag_aa_on_the_main_pages(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    ids = await access.seed_console(db, console)
    async with browse(chromium, "access-contrast") as (page, _):
        for path in _pages(ids):
            await access.beat(db)
            await page.goto(console.url + path)
            measured = await access.contrast(page)
            assert measured["checked"] > 20, path
            assert measured["failed"] == [], path


async def _swaps(page: Page) -> int:
    count: int = await page.evaluate("window.swapsSeen")
    return count


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("on-call", "#live a[href*='/requests/']"),
        ("", "#live a[href*='/requests/']"),
    ],
    ids=["on-call", "overview"],
)
async def test_the_refresh_never_moves_the_keyboard_focus(
    chromium: str, console: Console, db: asyncpg.Pool, path: str, inside: str
) -> None:
    await access.seed_console(db, console)
    await access.beat(db)
    async with browse(chromium, f"access-focus-{path or 'overview'}") as (page, messages):
        await page.goto(console.url + path)
        await page.evaluate(
            "window.swapsSeen = 0;"
            " document.addEventListener('htmx:afterSwap', () => { window.swapsSeen += 1; })"
        )
        # An element near the refreshed panel (the search box), then one inside it.
        for target in ("header input[name=q]", inside):
            await page.locator(target).first.focus()
            await page.evaluate("window.focusedBefore = document.activeElement")
            assert await page.evaluate("document.activeElement !== document.body"), target
            seen = await _swaps(page)

            async def refreshed(before: int = seen) -> bool:
                return await _swaps(page) >= before + 2

            await wait_until(refreshed, 15, "two refreshes of the live panel")
            same = await page.evaluate("document.activeElement === window.focusedBefore")
            now = await page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
            assert same, (target, now)
        assert _problems(messages) == []


async def test_the_requests_list_is_readable_at_1280x800(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    await access.seed_console(db, console)
    async with browse(chromium, "access-requests-1280x800") as (page, messages):
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(console.url + "requests")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"the page scrolls sideways: {width} px wide"
        rows = page.locator("#requests tbody tr")
        assert await rows.count() >= 10
        for n in range(3):  # the first rows are on the first screen, whole
            box = await rows.nth(n).bounding_box()
            assert box is not None
            assert box["y"] >= 0
            assert box["y"] + box["height"] <= 800, (n, box)
            assert box["x"] + box["width"] <= 1280, (n, box)
        assert _problems(messages) == []
