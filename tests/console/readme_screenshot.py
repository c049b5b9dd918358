"""The README's screenshot of a request page, taken on the demo's data.

    .venv/bin/worker demo --console &          # prints the console's URL
    .venv/bin/python -m tests.console.readme_screenshot http://127.0.0.1:8400/ SLOPPY

It searches the reference, opens the request found and saves the top of its page (message,
attempts, photos AVANT beside APRES with their findings) to docs/console-request.png.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from tests.console.test_browser import CHROMIUM_FLAGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "console-request.png"


async def shoot(base: str, reference: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=list(CHROMIUM_FLAGS)
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 1450})
        await page.goto(f"{base.rstrip('/')}/requests?q={reference}")
        await page.locator("#requests tbody a[href^='/requests/']").first.click()
        await page.wait_for_load_state("networkidle")
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the console, e.g. http://127.0.0.1:8400/")
    parser.add_argument("reference", help="a reference (prefix) of the request to show")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    asyncio.run(shoot(args.url, args.reference, args.out))
    print(args.out)


if __name__ == "__main__":
    main()
