"""The framing rules in the console: the reference read beside the PTO photo, boxed on its
thumbnail, and a search by a reference read that finds every request whose PTO photo shows it."""

from __future__ import annotations

import asyncpg
import pytest

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from worker.settings import Settings

pytestmark = pytest.mark.services


async def _read(db: asyncpg.Pool, photo_id: object, text: str | None, method: str) -> None:
    await db.execute(
        "UPDATE photos SET label_text = $2, label_box = $3, label_method = $4,"
        " label_confidence = $5 WHERE photo_id = $1",
        photo_id,
        text,
        [100, 200, 500, 260] if text else None,
        method,
        0.97 if text else None,
    )


async def test_the_reference_read_is_shown_and_boxed(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db, reference="INT-LABEL")
    pto = await seed.photo(db, console.photos, seeded, "PTO", data=seed.image_bytes((800, 600)))
    await _read(db, pto, "AB-12CD-3456", "ocr")
    page = await console.get(f"/requests/{seeded.message_id}")
    assert page.status == 200
    assert "AB-12CD-3456</strong> read by OCR (0.97)" in page.text
    assert '<svg class="label-box" viewBox="0 0 800 600"' in page.text
    assert '<rect x="100" y="200" width="400" height="60"' in page.text


async def test_an_unreadable_label_says_so(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db, reference="INT-BLANK")
    pto = await seed.photo(db, console.photos, seeded, "PTO")
    await _read(db, pto, None, "none")
    page = await console.get(f"/requests/{seeded.message_id}")
    assert "no reference matching the OI's pattern could be read" in page.text
    assert 'class="label-box"' not in page.text


async def test_search_by_a_reference_read(start_console: StartConsole, db: asyncpg.Pool) -> None:
    pattern = Settings.model_fields["pto_reference_pattern"].default
    console = await start_console(pto_reference_pattern=pattern)
    first = await seed.request(db, reference="INT-ONE")
    second = await seed.request(db, reference="INT-TWO", code_oc="OCBB")
    other = await seed.request(db, reference="INT-OTHER")
    for seeded, text in (
        (first, "AB-12CD-3456"),
        (second, "AB-12CD-3456"),
        (other, "ZZ-0000-0000"),
    ):
        code = "OCBB" if seeded is second else "OCAA"
        photo = await seed.photo(db, console.photos, seeded, "PTO", code_oc=code)
        await _read(db, photo, text, "barcode")
    # Typed in lower case, with an O for the 0 the OCR may have read: the same reference.
    page = await console.get("/requests?q=ab-12cd-3456")
    assert page.status == 200
    assert "PTO photos whose label reads “AB-12CD-3456”" in page.text
    assert "INT-ONE" in page.text
    assert "INT-TWO" in page.text
    assert "INT-OTHER" not in page.text
    plain = await console.get("/requests?q=INT-O")
    assert "INT-ONE" in plain.text  # a reference prefix is searched as before


async def test_search_by_photo_id_and_sha256_opens_the_request_at_the_photo(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db, reference="INT-PHOTO")
    photo = await seed.photo(db, console.photos, seeded, "PBO_AVANT")
    sha = await db.fetchval("SELECT sha256 FROM photos WHERE photo_id = $1", photo)
    for typed in (str(photo), str(photo).upper(), sha.upper(), sha):
        page = await console.get("/requests", params={"q": typed}, allow_redirects=False)
        assert page.status == 303, typed
        assert page.headers["Location"] == f"/requests/{seeded.message_id}#photo-{photo}"
    shared = await seed.request(db, reference="INT-SHARED")
    await db.execute(
        "INSERT INTO photo_request_photos (message_id, code_oc, photo_id) VALUES ($1, 'OCAA', $2)",
        shared.message_id,
        photo,
    )
    listed = await console.get("/requests", params={"q": sha})  # two requests: the list
    assert listed.status == 200
    assert "INT-PHOTO" in listed.text
    assert "INT-SHARED" in listed.text
