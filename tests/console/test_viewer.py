"""The comparison viewer and the evidence on a photo card, over HTTP."""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest

from tests.console import seed, viewer_seed
from tests.console.conftest import Console

pytestmark = pytest.mark.services


async def test_compare_shows_each_side_with_its_request_dates_and_positions(
    console: Console, db: asyncpg.Pool
) -> None:
    pair = await viewer_seed.pair(console, db)
    before, after = pair.photos["PBO_AVANT"], pair.photos["PBO_APRES"]
    page = await console.get(f"/compare?left=OCAA/{before}&right=OCAA/{after}")
    assert page.status == 200
    assert f'src="/photos/OCAA/{before}"' in page.text
    assert f'src="/photos/OCAA/{after}"' in page.text
    left = _section(page.text, "facts-left")
    assert f'href="/requests/{pair.message_id}#photo-{before}">INT-PAIR</a>' in left
    assert "PBO_AVANT" in left
    assert "OCAA" in left
    assert "(2 d before the declared date)" in left
    assert "(1.2 km apart)" in left
    assert "https://www.openstreetmap.org/?mlat=48.860800&amp;mlon=2.350000#map=18/" in left
    assert "blurred: below 20" in left
    assert "too dark: below 40" in left
    right = _section(page.text, "facts-right")
    assert "EXIF none in the file" in right
    assert "sharp enough" in right


async def test_compare_one_photo_alone(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PTO")
    page = await console.get(f"/compare?left=OCAA/{photo_id}")
    assert page.status == 200
    assert 'class="viewer mode-side single"' in page.text
    assert "facts-right" not in page.text


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("", 400, "left: expected <codeOC>/<photoId>"),
        ("?left=OCAA", 400, "left: expected <codeOC>/<photoId>"),
        ("?left=../../etc/passwd", 400, "left: expected"),
        ("?left=OCAA/{known}&right=ocaa/{known}", 400, "right: expected"),
        ("?left=OCAA/{unknown}", 404, "left: no photo OCAA/"),
        ("?left=OCAA/{known}&right=OCBB/{known}", 404, "right: no photo OCBB/"),
    ],
)
async def test_compare_refuses_what_names_no_photo(
    console: Console, db: asyncpg.Pool, query: str, status: int, says: str
) -> None:
    seeded = await seed.request(db)
    known = await seed.photo(db, console.photos, seeded, "PTO")
    page = await console.get("/compare" + query.format(known=known, unknown=uuid.uuid4()))
    assert page.status == status
    assert says in page.text


async def test_the_card_shows_the_evidence_and_links_to_the_viewer(
    console: Console, db: asyncpg.Pool
) -> None:
    pair = await viewer_seed.pair(console, db, reference="INT 42/B")
    before, after = pair.photos["PBO_AVANT"], pair.photos["PBO_APRES"]
    await seed.finding(
        db, pair, "date_out_of_window", photo_ids=[before], detail="EXIF date 2 days before"
    )
    page = await console.get(f"/requests/{pair.message_id}")
    card = _section(page.text, f"photo-{before}")
    assert "EXIF date 2 days before" in card  # the detail itself, not only a tooltip
    assert "(2 d before the declared date)" in card
    assert "(1.2 km apart)" in card
    assert "openstreetmap.org/?mlat=48.850000&amp;mlon=2.350000#map=18/48.850000/2.350000" in card
    assert re.search(r"✖ 12</span> blurred: below 20", card)
    assert re.search(r"✖ 31</span> too dark: below 40", card)
    assert f'href="/compare?left=OCAA/{before}&amp;right=OCAA/{after}"' in card
    assert 'download="INT-42-B_PBO_AVANT.jpg"' in card
    sha = await db.fetchval("SELECT sha256 FROM photos WHERE photo_id = $1", before)
    assert f'<span class="print-only">{sha}</span>' in card
    other = _section(page.text, f"photo-{after}")
    assert re.search(r"✔ 150</span> sharp enough", other)
    assert re.search(r"✔ 120</span> within 40 to 220", other)
    assert f'class="compare-pair" href="/compare?left=OCAA/{before}&amp;right=OCAA/{after}"' in (
        page.text
    )


async def test_a_reuse_links_both_ways(console: Console, db: asyncpg.Pool) -> None:
    reuse = await viewer_seed.reuse(console, db)
    compare = f'href="/compare?left=OCAA/{reuse.copy}&amp;right=OCAA/{reuse.original}"'
    later = await console.get(f"/requests/{reuse.later.message_id}")
    assert f'href="/requests/{reuse.earlier.message_id}#photo-{reuse.original}"' in later.text
    assert compare in _section(later.text, "findings")
    assert compare in _section(later.text, f"photo-{reuse.copy}")

    earlier = await console.get(f"/requests/{reuse.earlier.message_id}")
    back = f'href="/compare?left=OCAA/{reuse.original}&amp;right=OCAA/{reuse.copy}"'
    section = _section(earlier.text, "reused-later")
    assert f'href="/requests/{reuse.later.message_id}#photo-{reuse.copy}">INT-AGAIN-LATER' in (
        section
    )
    assert back in section
    card = _section(earlier.text, f"photo-{reuse.original}")
    assert "reused later" in card
    assert back in card
    assert "reused later" not in _section(earlier.text, f"photo-{reuse.earlier.photos['PTO']}")


def _section(html: str, element_id: str) -> str:
    """The element with this id, up to the next element of its tag closing (no nesting)."""
    match = re.search(rf'<(\w+)[^>]* id="{re.escape(element_id)}".*?</\1>', html, re.S)
    assert match, element_id
    return match.group(0)
