"""The analyst compares photos and prints a request, in a real Chromium (see test_browser.py).

Screenshots at 1280x800 and 1920x1080 go to tmp/artefacts/console/ (docs/images/ holds copies).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page

from tests.console import seed, viewer_seed
from tests.console.conftest import Console
from tests.console.test_browser import ARTEFACTS, _problems, browse, chromium
from tests.services import wait_until

pytestmark = pytest.mark.services
__all__ = ["chromium"]  # the session's browser, a fixture
SIZES = ((1280, 800), (1920, 1080))


async def _shoot(
    page: Page, name: str, at: str = "", sizes: tuple[tuple[int, int], ...] = SIZES
) -> None:
    for width, height in sizes:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate("window.dispatchEvent(new Event('resize'))")
        if at:
            await page.locator(at).scroll_into_view_if_needed()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTEFACTS / f"{name}-{width}x{height}.png"))


async def _loaded(page: Page) -> None:
    async def every_image() -> bool:
        done: bool = await page.evaluate(
            "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
        )
        return done

    # Not page.wait_for_function: its predicate is evaluated as a string, which the CSP refuses.
    await wait_until(every_image, 20, "every image of the page to load")


async def _lefts(page: Page) -> list[float]:
    """Where each image's left edge is on the screen."""
    lefts: list[float] = await page.evaluate(
        "['img-left', 'img-right'].map(i => document.getElementById(i)"
        ".getBoundingClientRect().left)"
    )
    return lefts


async def _width_above(page: Page, width: float) -> bool:
    shown: float = await page.evaluate(
        "document.getElementById('img-left').getBoundingClientRect().width"
    )
    return shown > width


async def _shown_at_centre(page: Page) -> str:
    """The id of the image the analyst sees in the middle of the stage."""
    found: str = await page.evaluate(
        """() => { const box = document.getElementById('stage').getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return hit ? hit.id : ''; }"""
    )
    return found


async def test_compare_a_pair_at_full_size_and_flip(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    pair = await viewer_seed.pair(console, db)
    before = pair.photos["PBO_AVANT"]
    async with browse(chromium, "compare") as (page, messages):
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(f"{console.url}requests/{pair.message_id}")
        await _loaded(page)
        await _shoot(page, "request", at=".group")
        await page.click("a.compare-pair")
        await page.wait_for_url(re.compile(r"/compare\?left=OCAA/.+&right=OCAA/"))
        await _loaded(page)
        await _shoot(page, "viewer")
        assert await page.locator("#pane-left").is_visible()
        assert await page.locator("#pane-right").is_visible()
        await page.keyboard.press("1")  # full size: one image pixel per screen pixel
        width = await page.evaluate(
            "document.getElementById('img-left').getBoundingClientRect().width"
        )
        assert abs(width - 1600) < 1, width
        assert "100% of A's pixels" in await page.locator("#viewer-state").inner_text()
        before_drag = await _lefts(page)
        box = await page.locator("#pane-left").bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + 300, box["y"] + 200)
        await page.mouse.down()
        await page.mouse.move(box["x"] + 200, box["y"] + 150, steps=4)
        await page.mouse.up()
        moved = [after - was for after, was in zip(await _lefts(page), before_drag, strict=True)]
        assert [round(m) for m in moved] == [-100, -100], moved  # both panes pan together
        await page.keyboard.press("ArrowLeft")  # and back by an arrow's step
        moved = [after - was for after, was in zip(await _lefts(page), before_drag, strict=True)]
        assert [round(m) for m in moved] == [-40, -40], moved
        await page.mouse.move(box["x"] + 320, box["y"] + 240)
        await page.mouse.wheel(0, -100)
        await wait_until(lambda: _width_above(page, 1900), 5, "the wheel to zoom in")
        await page.keyboard.press("1")

        await page.keyboard.press("Space")  # A/B flip: B alone, where A was
        assert await page.locator("body").get_attribute("data-shown") == "right"
        assert await page.locator("#pane-left").is_hidden()
        assert await _shown_at_centre(page) == "img-right"
        await _shoot(page, "viewer-flip-b", sizes=SIZES[:1])
        await page.keyboard.press("x")
        assert await _shown_at_centre(page) == "img-left"
        assert "A shown" in await page.locator("#viewer-state").inner_text()
        await page.keyboard.press("=")  # the zoom is the views': both images follow
        widths = await page.evaluate(
            "['img-left', 'img-right'].map(i => document.getElementById(i)"
            ".getBoundingClientRect().width)"
        )
        assert abs(widths[0] - 2000) < 1, widths  # 1600 px at 125 %
        assert abs(widths[1] - 2000) < 1, widths  # B (1200 px) drawn as large as A
        await page.keyboard.press("0")
        await page.keyboard.press("o")  # onion skin: B over A, half transparent
        assert await page.locator("body.mode-onion").count() == 1
        assert await page.evaluate("document.getElementById('img-right').style.opacity") == "0.5"
        await _shoot(page, "viewer-onion", sizes=SIZES[:1])
        await page.keyboard.press("b")
        assert await page.locator("body.boost-1").count() == 1
        await page.keyboard.press("s")
        await page.keyboard.press("=")
        await page.keyboard.press("=")
        await _shoot(page, "viewer-zoomed-brightened", sizes=SIZES[:1])

        await page.keyboard.press("Escape")  # back where it was opened
        await page.wait_for_url(f"**/requests/{pair.message_id}", wait_until="commit")
        await page.wait_for_selector(f"#photo-{before} a.download")
        assert _problems(messages) == []


async def test_a_download_is_named_after_the_reference_and_type(
    chromium: str, console: Console, db: asyncpg.Pool
) -> None:
    pair = await viewer_seed.pair(console, db)
    async with browse(chromium, "download") as (page, _):
        await page.goto(f"{console.url}requests/{pair.message_id}")
        async with page.expect_download() as download:
            await page.click(f"#photo-{pair.photos['PBO_AVANT']} a.download")
        assert (await download.value).suggested_filename == "INT-PAIR_PBO_AVANT.jpg"


def _compare(left: uuid.UUID, right: uuid.UUID) -> re.Pattern[str]:
    return re.compile(rf"/compare\?left=OCAA/{left}&right=OCAA/{right}$")


async def test_follow_a_reuse_both_ways(chromium: str, console: Console, db: asyncpg.Pool) -> None:
    reuse = await viewer_seed.reuse(console, db)
    async with browse(chromium, "reuse") as (page, messages):
        await page.goto(f"{console.url}requests/{reuse.later.message_id}")
        await page.click("#findings a.compare-reuse")
        await page.wait_for_url(_compare(reuse.copy, reuse.original))
        await _loaded(page)
        assert "INT-FIRST" in await page.locator("#facts-right").inner_text()
        await page.click("#facts-right a[href^='/requests/']")  # the earlier request
        await page.wait_for_url(f"**/requests/{reuse.earlier.message_id}#photo-{reuse.original}")
        said = await page.locator("#reused-later").inner_text()
        assert "INT-AGAIN-LATER" in said
        await _shoot(page, "reused-later", at="#reused-later", sizes=SIZES[:1])
        await page.click(f"#photo-{reuse.original} a.compare-reuse")
        await page.wait_for_url(_compare(reuse.original, reuse.copy))
        await page.click("#facts-right a[href^='/requests/']")  # and the later one again
        await page.wait_for_url(f"**/requests/{reuse.later.message_id}#photo-{reuse.copy}")
        assert _problems(messages) == []


async def test_print_a_request(
    chromium: str, console: Console, db: asyncpg.Pool, tmp_path: Path
) -> None:
    seeded = await viewer_seed.pair(console, db, reference="INT-PRINT")
    for photo_type in ("PTO", "PM_AVANT", "PM_APRES", "PT_PENETRATION_LGT"):
        await seed.photo(db, console.photos, seeded, photo_type)
    await seed.attempt(db, seeded, 1, 202, "retry:not_ready")
    await seed.attempt(db, seeded, 2, 200, "completed")
    photos = list(seeded.photos.values())
    await seed.finding(db, seeded, "same_before_after", "suspect", photo_ids=photos[:2])
    await seed.finding(db, seeded, "low_quality", photo_ids=photos[:1], detail="too dark: 31")
    await seed.event(db, seeded)
    shas = [r["sha256"] for r in await db.fetch("SELECT sha256 FROM photos")]
    assert len(shas) == 6
    async with browse(chromium, "print") as (page, messages):
        await page.goto(f"{console.url}requests/{seeded.message_id}")
        await page.emulate_media(media="print")
        assert await page.locator("header.top").is_hidden()
        assert await page.locator("form").first.is_hidden()
        assert await page.locator(".ago").first.is_hidden()
        pdf = tmp_path / "request.pdf"
        await page.pdf(path=str(pdf), format="A4", print_background=True)
        shutil.copy(pdf, ARTEFACTS / "print.pdf")
        assert _problems(messages) == []
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    assert 1 <= pages <= 2, info
    text = subprocess.run(
        ["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True
    ).stdout
    # In the page's own order: -layout interleaves the lines of two cards side by side, so a
    # sha256 wrapped over two lines has the other card's text between its halves.
    raw = subprocess.run(
        ["pdftotext", "-raw", pdf, "-"], capture_output=True, text=True, check=True
    ).stdout
    squeezed = "".join(raw.split())
    assert all(sha in squeezed for sha in shas), raw
    assert "INT-PRINT" in text
    assert "too dark: 31" in text
    assert "Review queue" not in text  # no navigation bar
    assert " ago" not in text  # absolute times only
    assert "Confirm" not in text  # no buttons
    now = datetime.now(UTC)
    assert any(f"{day:%Y-%m-%d}" in text for day in (now, now - timedelta(days=1)))
